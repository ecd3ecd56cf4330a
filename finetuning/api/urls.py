"""Routes under /api/v1/train/ (seed 003's training router, no trailing slashes)."""

from django.urls import path

from finetuning.api.views import (
    DatasetDetailView,
    DatasetDownloadView,
    DatasetExportView,
    DatasetListView,
    TrainJobDeploymentView,
    TrainJobListView,
    TrainStartView,
    TrainStatusView,
    TrainStopView,
    TrainUploadView,
)

urlpatterns = [
    path("upload", TrainUploadView.as_view(), name="train-upload"),
    path("start", TrainStartView.as_view(), name="train-start"),
    path("status/<uuid:job_id>", TrainStatusView.as_view(), name="train-status"),
    path("stop/<uuid:job_id>", TrainStopView.as_view(), name="train-stop"),
    path("jobs", TrainJobListView.as_view(), name="train-jobs"),
    path(
        "jobs/<uuid:job_id>/deployment",
        TrainJobDeploymentView.as_view(),
        name="train-job-deployment",
    ),
    path("datasets", DatasetListView.as_view(), name="train-datasets"),
    path("datasets/export", DatasetExportView.as_view(), name="train-datasets-export"),
    path("datasets/<uuid:dataset_id>", DatasetDetailView.as_view(), name="train-dataset"),
    path(
        "datasets/<uuid:dataset_id>/download",
        DatasetDownloadView.as_view(),
        name="train-dataset-download",
    ),
]
