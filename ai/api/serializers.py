"""Shapes of the AI configuration endpoints."""

from rest_framework import serializers


class ModelInfoSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Name to pass as `model` (Azure: deployment name).")
    kind = serializers.ChoiceField(choices=["chat", "embedding"])
    default = serializers.BooleanField()


class ModelsSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["azure", "openai", "offline"])
    offline = serializers.BooleanField(help_text="True when answers are extractive, not generated.")
    max_tokens = serializers.IntegerField(help_text="Cap on completion tokens per answer.")
    models = ModelInfoSerializer(many=True)
