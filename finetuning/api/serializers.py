"""Request and response bodies of ``/api/v1/train/``."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finetuning.models import FineTuneEvent, FineTuneJob, JobStatus, TrainingDataset
from finetuning.validation import training_estimate


class EstimateSerializer(serializers.Serializer):
    epochs = serializers.IntegerField()
    epochs_assumed = serializers.BooleanField(
        help_text="True when the provider picks the epochs (the estimate assumes "
        "FINETUNING_DEFAULT_EPOCHS)."
    )
    trained_tokens = serializers.IntegerField()
    price_per_million_tokens = serializers.FloatField(allow_null=True)
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)


class DatasetSerializer(serializers.ModelSerializer):
    has_validation_file = serializers.SerializerMethodField()
    estimate = serializers.SerializerMethodField()

    class Meta:
        model = TrainingDataset
        fields = [
            "id",
            "name",
            "source",
            "base_model",
            "size_bytes",
            "examples",
            "total_tokens",
            "max_example_tokens",
            "has_validation_file",
            "validation_size_bytes",
            "validation_examples",
            "validation_tokens",
            "estimate",
            "provider",
            "provider_file_id",
            "provider_validation_file_id",
            "created_at",
        ]
        read_only_fields = fields

    def get_has_validation_file(self, dataset: TrainingDataset) -> bool:
        return bool(dataset.validation_file)

    @extend_schema_field(EstimateSerializer)
    def get_estimate(self, dataset: TrainingDataset) -> dict[str, Any]:
        return EstimateSerializer(
            training_estimate(tokens=dataset.total_tokens, epochs=None, model=dataset.base_model)
        ).data


class DatasetDetailSerializer(DatasetSerializer):
    example_tokens = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="Tokens of each example."
    )

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "example_tokens"]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text='JSONL: one {"messages": [{"role", "content"}, ...]} per line.',
        allow_empty_file=True,
    )
    validation_file = serializers.FileField(required=False, allow_empty_file=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    base_model = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="Validated for this model (context length, price); default: the first of "
        "FINETUNING_MODELS.",
    )


class ProblemSerializer(serializers.Serializer):
    file = serializers.ChoiceField(choices=["training", "validation"])
    line = serializers.IntegerField(allow_null=True, help_text="1-based; null: the whole file.")
    code = serializers.CharField()
    message = serializers.CharField()


class DatasetExportSerializer(serializers.Serializer):
    session_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=1000,
        help_text="Chat sessions of the organization, one example each. Without them: every "
        "answer rated up in the period.",
    )
    rated_since = serializers.DateTimeField(required=False, allow_null=True, default=None)
    rated_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    system_prompt = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20000,
        default="",
        help_text="Default: the organization's system prompt, else the server's.",
    )
    base_model = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    save = serializers.BooleanField(
        default=False, help_text="false: review only; true: keep it as a dataset."
    )


class DatasetExportResultSerializer(serializers.Serializer):
    examples = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    estimate = EstimateSerializer()
    problem_count = serializers.IntegerField()
    problems = ProblemSerializer(many=True)
    preview = serializers.ListField(child=serializers.DictField(), help_text="First examples.")
    dataset = DatasetSerializer(allow_null=True)


class JobStartSerializer(serializers.Serializer):
    dataset_id = serializers.UUIDField()
    base_model = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="One of FINETUNING_MODELS; default: the dataset's.",
    )
    epochs = serializers.IntegerField(min_value=1, max_value=50, required=False, allow_null=True)
    batch_size = serializers.IntegerField(
        min_value=1, max_value=256, required=False, allow_null=True
    )
    learning_rate_multiplier = serializers.FloatField(
        min_value=0.001, max_value=10, required=False, allow_null=True
    )
    suffix = serializers.RegexField(
        r"^[A-Za-z0-9_-]{0,40}$", required=False, allow_blank=True, default=""
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, allow_null=True
    )


class JobSerializer(serializers.ModelSerializer):
    dataset_id = serializers.UUIDField(read_only=True, allow_null=True)
    usable_model = serializers.SerializerMethodField(
        help_text="The name to chat with (OpenAI: the fine-tuned model; Azure: the deployment)."
    )

    class Meta:
        model = FineTuneJob
        fields = [
            "id",
            "dataset_id",
            "provider",
            "base_model",
            "hyperparameters",
            "suffix",
            "seed",
            "status",
            "provider_job_id",
            "training_file_id",
            "validation_file_id",
            "estimated_tokens",
            "estimated_cost",
            "trained_tokens",
            "fine_tuned_model",
            "deployment",
            "usable_model",
            "error_code",
            "error_message",
            "sync_failures",
            "last_sync_error",
            "last_synced_at",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_usable_model(self, job: FineTuneJob) -> str | None:
        if job.status != JobStatus.SUCCEEDED or not job.fine_tuned_model:
            return None
        if job.provider == "azure":
            return job.deployment or None
        return job.fine_tuned_model


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="provider_event_id", read_only=True)

    class Meta:
        model = FineTuneEvent
        fields = ["id", "created_at", "level", "type", "message", "data"]
        read_only_fields = fields


class JobStatusSerializer(JobSerializer):
    events = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField(
        help_text="The latest step's metrics (step, train_loss, ...), when the provider sent any."
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "events", "metrics"]
        read_only_fields = fields

    @extend_schema_field(EventSerializer(many=True))
    def get_events(self, job: FineTuneJob) -> list[dict[str, Any]]:
        return EventSerializer(self.context.get("events", []), many=True).data

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_metrics(self, job: FineTuneJob) -> dict[str, Any] | None:
        for event in reversed(self.context.get("events", [])):
            if event.type == "metrics" and event.data:
                return dict(event.data)
        return None


class DeploymentSerializer(serializers.Serializer):
    deployment = serializers.CharField(max_length=64)
