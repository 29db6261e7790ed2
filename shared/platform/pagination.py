"""Offset paging for list endpoints: `?limit=&offset=`, answered as a `Page`."""

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")
MAX_LIMIT = 200


class PageParams(BaseModel):
    limit: int = 50
    offset: int = 0


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], params: PageParams) -> "Page[T]":
        # The repository fetched limit + 1 rows: one more means there is a next page.
        more = len(items) > params.limit
        return cls(
            items=items[: params.limit],
            limit=params.limit,
            offset=params.offset,
            next_offset=params.offset + params.limit if more else None,
        )
