"""A registry that wants a login: clear errors, a working push after login, and the password nowhere."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import helpers
from helpers import recording
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import Settings
from tests.throwaway import throwaway_registry

pytestmark = pytest.mark.live

PASSWORD = "Planted-S3cret-4711"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def guarded(lab):
    with throwaway_registry({"learner": PASSWORD}) as address:
        yield address


def test_login_push_and_no_password_anywhere(lab, guarded, tmp_path):
    engine = Engine(guarded)
    meta = recording.meta_for(engine, "credentials", lab.workspace.name, lab.base_image)
    path = tmp_path / "credentials.jsonl"
    secured = Lab(recording.RecordingEngine(engine, path, meta), Settings(guarded, lab.base_image, "tests"),
                  lab.workspace)
    lab.write_dockerfile()
    lab.write_app()
    image = secured.build("v1").tag
    said = []
    with pytest.raises(helpers.CredentialsRejected, match="wants a login") as err:
        secured.push(image)
    said.append(err.value)
    with pytest.raises(helpers.CredentialsRejected, match="rejected the login of 'learner'") as err:
        secured.login("learner", PASSWORD[::-1])
    said.append(err.value)
    assert err.value.__cause__ is None and "lab.login" in str(err.value)
    secured.login("learner", PASSWORD)
    push = secured.push(image)
    assert push.count("pushed") == 3 and push.uploaded_bytes > 0
    texts = [str(e) for e in said] + [repr(e.__context__) for e in said]
    texts += [repr(secured), path.read_text(), json.dumps(push.frame.to_dict(), default=str)]
    texts += [p.read_text(errors="replace") for p in (ROOT / ".lab").rglob("*.log")]
    assert not [t for t in texts if PASSWORD in t or PASSWORD[::-1] in t]
