"""A small REST ERP used only by the tests: customers behind four pagination styles.

`/{style}/customers` lists oldest-first with `updated_since`; `style` is `page`, `offset`,
`cursor` or `link`, each answering in its own envelope. Writes go to `/customers`.
Every call needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

TOKEN = "erp-test-token"


@dataclass
class ErpState:
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    clock: dt.datetime = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    fail_next: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return self.clock.isoformat().replace("+00:00", "Z")

    def add(self, name: str, stamp: str | None = None, **extra: Any) -> dict[str, Any]:
        identifier = max(self.records, default=0) + 1
        record = {"id": identifier, "name": name, "updated_at": stamp or self.tick(), **extra}
        self.records[identifier] = record
        return record

    def listing(self, since: str | None, filters: dict[str, str]) -> list[dict[str, Any]]:
        chosen = sorted(self.records.values(), key=lambda r: (r["updated_at"], r["id"]))
        if since:
            threshold = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
            chosen = [r for r in chosen if _parse(r["updated_at"]) >= threshold]
        for name, value in filters.items():
            chosen = [r for r in chosen if str(r.get(name)) == value]
        return chosen


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def create_app(state: ErpState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        state.calls.append(f"{request.method} {request.url.path}?{request.url.query}")
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "bad token"}, status_code=401)
        if state.fail_next:
            return JSONResponse({"message": "try later"}, status_code=state.fail_next.pop(0))
        response: Response = await call_next(request)
        return response

    @app.get("/{style}/customers")
    async def list_customers(style: str, request: Request) -> Any:
        query = dict(request.query_params)
        since = query.pop("updated_since", None)
        limit = int(query.pop("limit", 3))
        page = int(query.pop("page", 1))
        offset = int(query.pop("offset", 0))
        cursor = query.pop("cursor", None)
        chosen = state.listing(since, query)
        if style == "page":
            start = (page - 1) * limit
            return {"data": chosen[start : start + limit]}
        if style == "offset":
            return {"items": chosen[offset : offset + limit]}
        if style == "cursor":
            start = int(cursor) if cursor else 0
            following = str(start + limit) if start + limit < len(chosen) else None
            return {"results": chosen[start : start + limit], "paging": {"next": following}}
        if style == "link":
            start = (page - 1) * limit
            headers = {}
            if start + limit < len(chosen):
                target = request.url.include_query_params(page=page + 1, limit=limit)
                headers["Link"] = f'<{target}>; rel="next"'
            return JSONResponse(chosen[start : start + limit], headers=headers)
        if style == "escape":
            return JSONResponse(
                chosen[:limit], headers={"Link": '<https://evil.example/steal>; rel="next"'}
            )
        raise HTTPException(404)

    @app.get("/customers/{identifier}")
    async def get_customer(identifier: int) -> Any:
        if identifier not in state.records:
            raise HTTPException(404, "no such customer")
        return state.records[identifier]

    @app.post("/customers", status_code=201)
    async def create(request: Request) -> Any:
        body = await request.json()
        if not body.get("name"):
            return JSONResponse({"code": "REQUIRED", "message": "name is required"}, 422)
        return state.add(**body)

    @app.put("/customers/{identifier}")
    async def update(identifier: int, request: Request) -> Any:
        if identifier not in state.records:
            raise HTTPException(404, "no such customer")
        record = state.records[identifier]
        record.update(await request.json())
        record["updated_at"] = state.tick()
        return record

    @app.delete("/customers/{identifier}", status_code=204)
    async def delete(identifier: int) -> Response:
        if identifier not in state.records:
            raise HTTPException(404, "no such customer")
        del state.records[identifier]
        return Response(status_code=204)

    return app
