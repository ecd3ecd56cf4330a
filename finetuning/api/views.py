"""REST front door of fine-tuning (``/api/v1/train/``): datasets, jobs, their status.

Every route is for owners and admins of the current organization (403 otherwise) and
answers 409 ``FINE_TUNING_UNAVAILABLE`` when the configured provider cannot fine-tune."""

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.actor import actor_from_request
from finetuning.access import fine_tuning_require_admin, fine_tuning_require_available
from finetuning.api.serializers import (
    DatasetDetailSerializer,
    DatasetExportResultSerializer,
    DatasetExportSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    DeploymentSerializer,
    JobSerializer,
    JobStartSerializer,
    JobStatusSerializer,
)
from finetuning.models import JobStatus, TrainingDataset
from finetuning.selectors import dataset_get, dataset_list, job_events, job_get, job_list
from finetuning.services.datasets import dataset_delete, dataset_export, dataset_upload
from finetuning.services.jobs import job_cancel, job_deployment_set, job_start

TAGS = ["fine-tuning"]
UNAVAILABLE = OpenApiResponse(
    description="`FINE_TUNING_UNAVAILABLE`: the configured provider cannot fine-tune (the "
    "offline provider); `details.settings` names the settings that enable it. Also: the "
    "object's state refuses the action."
)
NOT_ADMIN = OpenApiResponse(description="Not an owner or admin of the organization.")
INVALID = OpenApiResponse(
    description="`DATASET_INVALID`: every problem with its file and line number in "
    "`details.problems` (`details.problem_count` counts all); `MODEL_NOT_FINE_TUNABLE`; "
    "invalid input."
)


class TrainingView(GenericAPIView):
    """Owners and admins only; the provider must be able to fine-tune."""

    queryset = TrainingDataset.objects.none()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        fine_tuning_require_admin(actor_from_request(request))
        fine_tuning_require_available()


class TrainUploadView(TrainingView):
    serializer_class = DatasetUploadSerializer

    def get_parsers(self) -> list[BaseParser]:
        return [MultiPartParser()]

    @extend_schema(
        tags=TAGS,
        operation_id="train_upload",
        summary="Upload a training dataset (JSONL), validated before anything is sent",
        description="Multipart: `file` (and an optional `validation_file`) in the chat "
        'fine-tuning format, one `{"messages": [...]}` per line. Every line is checked '
        "(JSON, roles, empty content, an assistant message, the model's context) and the "
        "tokens counted; a file with problems is not stored (400 with every problem and its "
        "line). Over `FINETUNING_MAX_FILE_BYTES` -> 413.",
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={
            201: DatasetSerializer,
            400: INVALID,
            403: NOT_ADMIN,
            409: UNAVAILABLE,
            413: OpenApiResponse(description="File too large."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = DatasetUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = dataset_upload(
            actor=actor_from_request(request),
            uploaded_file=data["file"],
            validation_file=data.get("validation_file"),
            name=data.get("name", ""),
            base_model=data.get("base_model") or None,
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class TrainStartView(TrainingView):
    serializer_class = JobStartSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_start",
        summary="Start a fine-tuning job on a dataset",
        description="The job starts as `uploading`; the files go to the provider and the job "
        "is created there in the background, then followed by the periodic sync "
        "(`validating_files`, `queued`, `running`, `succeeded`, `failed`, `cancelled`; "
        "`upload_failed` when the upload was refused). Omitted hyperparameters are the "
        "provider's defaults. 429 `QUOTA_EXCEEDED` when the estimated trained tokens exceed "
        "the organization's training budget left this month.",
        request=JobStartSerializer,
        responses={
            201: JobSerializer,
            400: INVALID,
            403: NOT_ADMIN,
            404: OpenApiResponse(description="No such dataset in this organization."),
            409: UNAVAILABLE,
            429: OpenApiResponse(description="`QUOTA_EXCEEDED`: training budget used up."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = JobStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = job_start(
            actor=actor_from_request(request),
            dataset_id=data["dataset_id"],
            base_model=data.get("base_model") or None,
            epochs=data.get("epochs"),
            batch_size=data.get("batch_size"),
            learning_rate_multiplier=data.get("learning_rate_multiplier"),
            suffix=data.get("suffix", ""),
            seed=data.get("seed"),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class TrainStatusView(TrainingView):
    serializer_class = JobStatusSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_status",
        summary="A job: state, trained tokens, provider events and metrics, resulting model",
        responses={200: JobStatusSerializer, 403: NOT_ADMIN, 409: UNAVAILABLE},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = job_get(actor=actor_from_request(request), job_id=job_id)
        return Response(JobStatusSerializer(job, context={"events": job_events(job=job)}).data)


class TrainStopView(TrainingView):
    serializer_class = JobSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_stop",
        summary="Cancel a job at the provider",
        request=None,
        responses={
            200: JobSerializer,
            403: NOT_ADMIN,
            409: UNAVAILABLE,
            502: OpenApiResponse(description="The provider did not cancel the job."),
        },
    )
    def post(self, request: Request, job_id: str) -> Response:
        actor = actor_from_request(request)
        job = job_cancel(actor=actor, job=job_get(actor=actor, job_id=job_id))
        return Response(JobSerializer(job).data)


class TrainJobListView(TrainingView):
    serializer_class = JobSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_jobs_list",
        summary="The organization's fine-tuning jobs, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=JobStatus.values, description="Only this state.")
        ],
        responses={200: JobSerializer(many=True), 403: NOT_ADMIN, 409: UNAVAILABLE},
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status") or None
        if wanted and wanted not in JobStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Must be one of: {', '.join(JobStatus.values)}."]}
            )
        page = self.paginate_queryset(job_list(actor=actor_from_request(request), status=wanted))
        return self.get_paginated_response(JobSerializer(page, many=True).data)


class TrainJobDeploymentView(TrainingView):
    serializer_class = DeploymentSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_jobs_deployment",
        summary="Azure: name the deployment that serves a succeeded job's model",
        description="Azure OpenAI serves a fine-tuned model only through a deployment you "
        "create in Azure; give its name here and the model becomes selectable for chat in "
        "this organization. OpenAI serves fine-tuned models by name (409 here).",
        request=DeploymentSerializer,
        responses={200: JobSerializer, 403: NOT_ADMIN, 409: UNAVAILABLE},
    )
    def post(self, request: Request, job_id: str) -> Response:
        serializer = DeploymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_from_request(request)
        job = job_deployment_set(
            actor=actor,
            job=job_get(actor=actor, job_id=job_id),
            deployment=serializer.validated_data["deployment"],
        )
        return Response(JobSerializer(job).data)


class DatasetListView(TrainingView):
    serializer_class = DatasetSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_datasets_list",
        summary="The organization's training datasets, newest first",
        responses={200: DatasetSerializer(many=True), 403: NOT_ADMIN, 409: UNAVAILABLE},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(dataset_list(actor=actor_from_request(request)))
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)


class DatasetDetailView(TrainingView):
    serializer_class = DatasetDetailSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_datasets_retrieve",
        summary="A dataset, with the tokens of each example",
        responses={200: DatasetDetailSerializer, 403: NOT_ADMIN, 409: UNAVAILABLE},
    )
    def get(self, request: Request, dataset_id: str) -> Response:
        dataset = dataset_get(actor=actor_from_request(request), dataset_id=dataset_id)
        return Response(DatasetDetailSerializer(dataset).data)

    @extend_schema(
        tags=TAGS,
        operation_id="train_datasets_destroy",
        summary="Delete a dataset and the files uploaded to the provider",
        responses={
            204: None,
            403: NOT_ADMIN,
            409: UNAVAILABLE,
            502: OpenApiResponse(description="The provider did not delete its file."),
        },
    )
    def delete(self, request: Request, dataset_id: str) -> Response:
        actor = actor_from_request(request)
        dataset_delete(actor=actor, dataset=dataset_get(actor=actor, dataset_id=dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetDownloadView(TrainingView):
    serializer_class = DatasetSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_datasets_download",
        summary="Download a dataset's JSONL file (or its validation file)",
        parameters=[
            OpenApiParameter(
                "part", str, enum=["training", "validation"], description="Default: training."
            )
        ],
        responses={
            (200, "application/jsonl"): OpenApiTypes.BINARY,
            403: NOT_ADMIN,
            409: UNAVAILABLE,
        },
    )
    def get(self, request: Request, dataset_id: str) -> FileResponse:
        part = request.query_params.get("part") or "training"
        if part not in ("training", "validation"):
            raise serializers.ValidationError({"part": ["Must be training or validation."]})
        dataset = dataset_get(actor=actor_from_request(request), dataset_id=dataset_id)
        stored = dataset.file if part == "training" else dataset.validation_file
        if not stored:
            raise NotFound(f"This dataset has no {part} file.")
        response = FileResponse(
            stored.open("rb"),
            content_type="application/jsonl",
            as_attachment=True,
            filename=f"{dataset.pk}-{part}.jsonl",
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class DatasetExportView(TrainingView):
    serializer_class = DatasetExportSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="train_datasets_export",
        summary="Build a dataset from the organization's conversations (review, then save)",
        description="Select chat sessions (`session_ids`), or every answer rated up in a "
        "period (`rated_since`, `rated_until`). With `save: false` the answer is a review: "
        "counts, tokens, cost, problems and the first examples; `save: true` keeps the "
        "dataset (201).",
        request=DatasetExportSerializer,
        responses={
            200: DatasetExportResultSerializer,
            201: DatasetExportResultSerializer,
            400: INVALID,
            403: NOT_ADMIN,
            404: OpenApiResponse(description="A chat session of another organization or none."),
            409: UNAVAILABLE,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = DatasetExportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = dataset_export(
            actor=actor_from_request(request),
            session_ids=data.get("session_ids") or None,
            rated_since=data.get("rated_since"),
            rated_until=data.get("rated_until"),
            system_prompt=data.get("system_prompt") or None,
            base_model=data.get("base_model") or None,
            name=data.get("name", ""),
            save=data["save"],
        )
        saved = result["dataset"] is not None
        return Response(
            DatasetExportResultSerializer(result).data,
            status=status.HTTP_201_CREATED if saved else status.HTTP_200_OK,
        )
