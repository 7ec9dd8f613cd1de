"""The reference for figure 4: a bare Flask route under the same gunicorn settings as the site."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
