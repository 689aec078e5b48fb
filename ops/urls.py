from django.urls import re_path

from ops.apis import alarms, costs, dead_letters, failed_jobs, queues, redrives

QUEUE = r"^dlqs/(?P<name>[A-Za-z0-9_.-]+)"  # a dead-letter queue, by name

# Every route answers with and without a trailing slash, like the order routes.
urlpatterns = [
    re_path(r"^dlqs/?$", dead_letters.DeadLetterQueueListApi.as_view(), name="dlq-list"),
    re_path(QUEUE + r"/messages/?$", dead_letters.DeadLetterMessagesApi.as_view(), name="dlq-messages"),
    re_path(QUEUE + r"/groups/?$", dead_letters.DeadLetterGroupsApi.as_view(), name="dlq-groups"),
    re_path(QUEUE + r"/redrive/?$", redrives.DeadLetterRedriveApi.as_view(), name="dlq-redrive"),
    re_path(QUEUE + r"/delete/?$", dead_letters.DeadLetterDeleteApi.as_view(), name="dlq-delete"),
    re_path(QUEUE + r"/purge/?$", dead_letters.DeadLetterPurgeApi.as_view(), name="dlq-purge"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/cancel/?$", redrives.RedriveJobCancelApi.as_view(), name="redrive-cancel"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/resume/?$", redrives.RedriveJobResumeApi.as_view(), name="redrive-resume"),
    re_path(r"^redrives/(?P<job_id>[^/]+)/?$", redrives.RedriveJobApi.as_view(), name="redrive-detail"),
    re_path(r"^queues/?$", queues.QueueListApi.as_view(), name="queue-list"),
    re_path(r"^queues/(?P<name>[A-Za-z0-9_.-]+)/pause/?$", queues.QueuePauseApi.as_view(), name="queue-pause"),
    re_path(r"^queues/(?P<name>[A-Za-z0-9_.-]+)/resume/?$", queues.QueueResumeApi.as_view(), name="queue-resume"),
    re_path(r"^costs/?$", costs.StageCostApi.as_view(), name="cost-report"),
    re_path(r"^alarms/?$", alarms.AlarmListApi.as_view(), name="alarm-list"),
    re_path(r"^alarms/(?P<name>[^/]+)/history/?$", alarms.AlarmHistoryApi.as_view(), name="alarm-history"),
    re_path(r"^alarms/(?P<name>[^/]+)/mute/?$", alarms.AlarmMuteApi.as_view(), name="alarm-mute"),
    re_path(r"^alarms/(?P<name>[^/]+)/unmute/?$", alarms.AlarmUnmuteApi.as_view(), name="alarm-unmute"),
    re_path(r"^alarms/(?P<name>[^/]+)/acknowledge/?$", alarms.AlarmAcknowledgeApi.as_view(), name="alarm-acknowledge"),
    re_path(r"^alarms/(?P<name>[^/]+)/assign/?$", alarms.AlarmAssignApi.as_view(), name="alarm-assign"),
    re_path(r"^failed-jobs/?$", failed_jobs.FailedJobListApi.as_view(), name="failed-job-list"),
    re_path(r"^failed-jobs/retry/?$", failed_jobs.FailedJobBulkRetryApi.as_view(), name="failed-job-retry-bulk"),
    re_path(r"^failed-jobs/discard/?$", failed_jobs.FailedJobBulkDiscardApi.as_view(), name="failed-job-discard-bulk"),
    re_path(r"^failed-jobs/(?P<failure_id>[0-9]+)/?$", failed_jobs.FailedJobApi.as_view(), name="failed-job-detail"),
    re_path(
        r"^failed-jobs/(?P<failure_id>[0-9]+)/retry/?$",
        failed_jobs.FailedJobRetryApi.as_view(),
        name="failed-job-retry",
    ),
    re_path(
        r"^failed-jobs/(?P<failure_id>[0-9]+)/discard/?$",
        failed_jobs.FailedJobDiscardApi.as_view(),
        name="failed-job-discard",
    ),
]
