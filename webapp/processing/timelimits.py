"""How long one image may take a worker, from the size of its file.

A fixed limit (once 600 s for every map) kills a long series that is simply large: the pass reads every
byte, so its time grows with the file. Each image's run therefore gets the base limits plus an allowance per
GiB of its stored file (``PROCESSING_SECONDS_PER_GIB``), sent with its task message; the sweep waits as long
before calling a run stuck, and Redis redelivers an unacknowledged task no sooner than the largest upload's
limit. Small maps keep the base limits, so a hung small run is still stopped soon.
"""

import math

GIB = 1024**3


def allowance_seconds(file_size, config):
    """Seconds added to the base limits for a stored file of ``file_size`` bytes (whole seconds, rounded up)."""
    return math.ceil(max(file_size or 0, 0) / GIB * config["PROCESSING_SECONDS_PER_GIB"])


def time_limits(file_size, config):
    """(soft, hard) limits in seconds for one run over a file of this size."""
    extra = allowance_seconds(file_size, config)
    return config["PROCESSING_SOFT_TIME_LIMIT"] + extra, config["PROCESSING_TIME_LIMIT"] + extra


def stuck_after_seconds(file_size, config):
    """How long an image of this size may stay before a final state before the sweep sends it again."""
    return config["STUCK_AFTER_SECONDS"] + allowance_seconds(file_size, config)


def longest_run_seconds(config):
    """The hard limit of the largest file an upload may send: the least time Redis may wait before redelivering."""
    return time_limits(config["MAX_UPLOAD_BYTES"], config)[1]


def send_to_workers(image_id, file_size, config):
    """Queue one image's processing with the limits its size earns (the task's own defaults are the base)."""
    from .tasks import process_image

    soft, hard = time_limits(file_size, config)
    process_image.apply_async((image_id,), soft_time_limit=soft, time_limit=hard)


def limit_of_current_run(request, config):
    """The soft limit the running task was given (its message's, else the base setting), for the reason shown."""
    given = getattr(request, "timelimit", None) or (None, None)
    return given[1] or config["PROCESSING_SOFT_TIME_LIMIT"]
