"""Google API errors as Vertex AI answers them: ``{"error": {"code", "message", "status"}}``, pretty-printed
with two spaces; on ``:streamRawPredict`` wrapped in a JSON array (as users of the streaming route
quote it: ``429 [{"error": …}]``). Claude's own refusals (400s, 529) come in Anthropic's envelope
instead (sim.anthropic_errors) — Vertex relays those from the model.
"""

from __future__ import annotations

import json

from aiohttp import web

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
UNAVAILABLE_MESSAGE = "The service is currently unavailable."
INTERNAL_MESSAGE = "Internal error encountered."


def quota_message(base_model: str) -> str:
    return (f"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base "
            f"model: {base_model}. Please submit a quota increase request. "
            "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.")


def model_not_found_message(resource: str) -> str:
    return (f"Publisher Model `{resource}` was not found or your project does not have access to it. Please "
            "ensure you are using a valid model version. For more information, see: "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions")


def permission_denied_message(resource: str) -> str:
    return (f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/{resource}' "
            "(or it may not exist).")


def google_error(code: int, message: str, *, streaming: bool = False) -> web.Response:
    document = json.dumps({"error": {"code": code, "message": message, "status": GOOGLE_STATUS.get(code, "UNKNOWN")}},
                          indent=2)
    body = f"[{document}\n]" if streaming else document + "\n"
    headers = {"content-type": "application/json; charset=UTF-8"}
    if code == 401:
        headers["www-authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    return web.Response(status=code, body=body.encode(), headers=headers)
