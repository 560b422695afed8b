"""Paging for lists: `?limit=&cursor=` in the API (API.md Conventions), `?page=` on pages."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from app.errors import Invalid

MAX_LIMIT = 200
# no list is a billion rows long: a cursor past that was not ours, and must not reach OFFSET (a bigint)
MAX_OFFSET = 10**9


def api_window(limit: int | None, cursor: str | None, default: int = 50) -> tuple[int, int]:
    """(limit, offset) from the API's query; the cursor is opaque to callers."""
    limit = default if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid({"limit": f"limit is between 1 and {MAX_LIMIT}."})
    if not cursor:
        return limit, 0
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:"))
    except ValueError:
        raise Invalid({"cursor": "This cursor is not one we gave out."}) from None
    if not 0 <= offset < MAX_OFFSET:
        raise Invalid({"cursor": "This cursor is not one we gave out."})
    return limit, offset


def next_cursor(limit: int, offset: int, total: int) -> str | None:
    if offset + limit >= total:
        return None
    return base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode()


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_item(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_item(self) -> int:
        return min(self.offset + self.size, self.total)


# past any list's last page, and far from where the offset would overflow PostgreSQL's bigint
MAX_PAGE = 1_000_000


def page_number(raw: str | None) -> int:
    """The page a `?page=` asks for; what is not a page number is the first page, and no page is past MAX_PAGE."""
    try:
        return min(MAX_PAGE, max(1, int(raw or 1)))
    except ValueError:
        return 1
