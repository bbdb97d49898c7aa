"""The pages and script served to browsers: the demo page (`/`), the widget's script
(`/widget.js`, from memory with its ETag: `bot.api.static`) and the admin page (`/admin`,
`/admin.js`, only with an admin token). None of them is in the OpenAPI schema."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from bot.api.deps import AdminPage, ServicesDep
from bot.api.services import WIDGET_DIR

router = APIRouter(include_in_schema=False)


@router.get("/admin", dependencies=[AdminPage])
def admin_page():
    return FileResponse(
        WIDGET_DIR / "admin.html", media_type="text/html", headers={"Cache-Control": "no-store"}
    )


@router.get("/admin.js", dependencies=[AdminPage])
def admin_script():
    return FileResponse(WIDGET_DIR / "admin.js", media_type="text/javascript")


@router.get("/")
def demo_page():
    return FileResponse(WIDGET_DIR / "demo.html", media_type="text/html")


@router.get("/widget.js")
def widget_script(request: Request, services: ServicesDep):
    return services.widget.response(request)
