"""The reference for figure 4: a bare Flask route under the same gunicorn settings as the site."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"


@app.route("/sink", methods=["POST", "PUT", "PATCH"])
def sink():
    """Read the body and drop it: the raw loopback copy of figure 3."""
    from flask import request

    total = 0
    while chunk := request.stream.read(1 << 20):
        total += len(chunk)
    return str(total)


@app.route("/sink-to-disk", methods=["POST", "PUT", "PATCH"])
def sink_to_disk():
    """Read the body into a temporary file on the same disk as the site's storage: the raw copy that stores."""
    import tempfile

    from flask import request

    total = 0
    with tempfile.TemporaryFile() as target:
        while chunk := request.stream.read(1 << 20):
            target.write(chunk)
            total += len(chunk)
    return str(total)
