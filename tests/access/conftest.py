from tests.server.helpers import api, api_server  # noqa: F401
