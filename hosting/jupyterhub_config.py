"""JupyterHub for a room on one machine: each learner a system user with a server and kernel of their own,
all on this machine's Docker engine and the lab's registry (`make hub`; README, "Hosting a room").

JupyterHub comes from PyPI (the lab's virtual environment), its proxy, configurable-http-proxy, from the npm
registry (`make hub` installs it, and the learners' environment, under .lab/hub/: scripts/install_hub.sh). Set
before starting:
  LAYER_LAB_HUB_USERS     the learners' user names, comma-separated (system users; `make hub` does not create them)
  LAYER_LAB_HUB_ADMIN     the instructor's user name (an admin of the hub)
  LAYER_LAB_HUB_PORT      the port on 127.0.0.1 (default 8000; put a TLS proxy in front for a real room)
  LAYER_LAB_HUB_AUTH      pam (default: the users' system passwords) or dummy (one shared password, for tests)
  LAYER_LAB_HUB_PASSWORD  that shared password, with dummy
  LAYER_LAB_HUB_TOKEN     an API token for automation (a service allowed to start servers and use them)
  LAYER_LAB_HUB_HOME      where the hub keeps its database and cookie secret (default .lab/hub)
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub provides it)

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("LAYER_LAB_HUB_HOME") or ROOT / ".lab" / "hub")
HOME.mkdir(parents=True, exist_ok=True)
USERS = {u.strip() for u in os.environ.get("LAYER_LAB_HUB_USERS", "").split(",") if u.strip()}
ADMIN = os.environ.get("LAYER_LAB_HUB_ADMIN", "")

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('LAYER_LAB_HUB_PORT', '8000')}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{HOME / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HOME / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True
c.ConfigurableHTTPProxy.command = [str(ROOT / ".lab" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(HOME / "jupyterhub-proxy.pid")

if os.environ.get("LAYER_LAB_HUB_AUTH", "pam") == "dummy":
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["LAYER_LAB_HUB_PASSWORD"]
c.Authenticator.allowed_users = USERS | ({ADMIN} if ADMIN else set())
c.Authenticator.admin_users = {ADMIN} if ADMIN else set()

# Each learner's server: the lab's environment, run as the learner, opening on the start notebook. Both builders
# keep learners' build caches apart on Docker 20.10's overlay2 store, and the classic one prints the workshop's
# own output; on an engine with the containerd image store use "buildkit" (README, "A room on one engine").
LEARNERS_ENV = ROOT / ".lab" / "hub" / "env"
"""The environment the learners' servers run in (scripts/install_hub.sh: the lab's, or one every user may run)."""
c.Spawner.cmd = [str((LEARNERS_ENV if LEARNERS_ENV.exists() else Path(sys.prefix)) / "bin" / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = str(ROOT / "notebooks")
c.Spawner.default_url = "/lab/tree/00-start-here.ipynb"
c.Spawner.environment = {"LAYER_LAB_BUILDER": "classic", "LAYER_LAB_STATE": str(ROOT / ".lab"),
                         "LAYER_LAB_PROGRESS": os.environ.get("LAYER_LAB_PROGRESS", "1")}
c.Spawner.start_timeout = 120

if os.environ.get("LAYER_LAB_HUB_TOKEN"):
    c.JupyterHub.services = [{"name": "room", "api_token": os.environ["LAYER_LAB_HUB_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "room", "services": ["room"],
                                "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"]}]
