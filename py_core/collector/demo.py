"""Demo shop API served by ``sightline serve --demo``.

``GET /demo/api/products`` lists a few products; ``POST /demo/api/checkout`` always
fails with a 500, a deliberate server error for the recorder to capture in the demo.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["PRODUCTS", "routes"]

PRODUCTS = [
    {"id": "p-100", "name": "Trail Runner Shoes", "price": 89.0, "currency": "EUR", "stock": 12},
    {"id": "p-101", "name": "Merino Hiking Socks", "price": 14.5, "currency": "EUR", "stock": 40},
    {"id": "p-102", "name": "Packable Rain Jacket", "price": 119.0, "currency": "EUR", "stock": 5},
    {"id": "p-103", "name": "Insulated Water Bottle", "price": 24.0, "currency": "EUR", "stock": 0},
    {"id": "p-104", "name": "Headlamp 300 lm", "price": 32.0, "currency": "EUR", "stock": 18},
]


async def products(request: Request) -> Response:
    """The product list (a JSON array)."""
    return JSONResponse(PRODUCTS, headers={"Cache-Control": "no-store"})


async def checkout(request: Request) -> Response:
    """Always a server error: the failure the demo session records."""
    return JSONResponse({"error": "payment service unavailable"}, status_code=500,
                        headers={"Cache-Control": "no-store"})


def routes() -> list[Route]:
    """The demo routes, to add before any static mount."""
    return [
        Route("/demo/api/products", products, methods=["GET"]),
        Route("/demo/api/checkout", checkout, methods=["POST"]),
    ]
