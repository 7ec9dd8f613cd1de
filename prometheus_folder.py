"""The folder where every web and worker process of one machine writes its metrics (prometheus_client's
multiprocess mode). Used by ``gunicorn.conf.py`` and ``celery_worker.py`` before the app, and so before
prometheus_client, is imported: importing it with ``PROMETHEUS_MULTIPROC_DIR`` set is what turns the mode on.
Nothing here imports the app.
"""

import os
import re
from pathlib import Path

FILE_PID = re.compile(r"_(\d+)\.db$")


def default_folder():
    """``PROMETHEUS_MULTIPROC_DIR``, else ``prometheus/`` in the instance folder (as ``webapp/config.py`` finds it)."""
    instance = os.environ.get("INSTANCE_DIR") or str(Path(__file__).resolve().parent / "instance")
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(Path(instance) / "prometheus")


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def use_multiprocess_folder():
    """Set ``PROMETHEUS_MULTIPROC_DIR``, create it, and remove the files of processes that are gone.

    Files of live processes stay: the web server and the workers of one machine share the folder.
    """
    folder = Path(default_folder())
    folder.mkdir(parents=True, exist_ok=True)
    for file in folder.glob("*.db"):
        match = FILE_PID.search(file.name)
        if match and not process_alive(int(match.group(1))):
            file.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder
