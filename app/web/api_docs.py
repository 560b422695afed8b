"""The interactive API docs at /schema: Swagger UI from our own /static, so they work offline and under the
Content-Security-Policy (no CDN, no inline script: Litestar's stock page starts Swagger UI inline)."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import SwaggerRenderPlugin

SWAGGER_UI_VERSION = "5.36.0"  # swagger-ui-dist from npm; see static/swagger-ui-<version>.LICENSE.txt
JS_URL = f"/static/swagger-ui-{SWAGGER_UI_VERSION}-bundle.js"
CSS_URL = f"/static/swagger-ui-{SWAGGER_UI_VERSION}.css"
PAGE_CSS_URL = "/static/swagger-ui-page.css"
INIT_JS_URL = "/static/swagger-ui-init.js"


class LocalSwaggerUI(SwaggerRenderPlugin):
    """Swagger UI at /schema and /schema/swagger, from /static, started by static/swagger-ui-init.js."""

    def __init__(self) -> None:
        super().__init__(
            version=SWAGGER_UI_VERSION,
            js_url=JS_URL,
            css_url=CSS_URL,
            path=["/", "/swagger"],
            favicon="",
            style=f'<link href="{PAGE_CSS_URL}" rel="stylesheet">',
        )

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        # The schema is fetched from openapi.json (connect-src 'self') rather than written into the page.
        title = escape(str(openapi_schema["info"]["title"]))
        spec_url = escape(self.get_openapi_json_route(request))
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link href="{self.css_url}" rel="stylesheet">
  {self.style}
  <script src="{self.js_url}" defer></script>
  <script src="{INIT_JS_URL}" defer></script>
</head>
<body>
  <div id="swagger-container" data-spec-url="{spec_url}"></div>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        """No oauth2-redirect.html: the API takes bearer tokens, not OAuth2, and that page is an inline script."""
