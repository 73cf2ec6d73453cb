"""greeter: a small Flask app that greets whoever asks."""
from pathlib import Path

from flask import Flask

from .greeting import greeting

PAGE = (Path(__file__).parent / "static" / "index.html").read_text()


def create_app() -> Flask:
    app = Flask(__name__)

    @app.route("/")
    def index():
        return PAGE.replace("{greeting}", greeting())

    @app.route("/health")
    def health():
        return "ok"

    return app
