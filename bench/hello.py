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
