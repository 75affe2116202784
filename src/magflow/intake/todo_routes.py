"""``GET /api/v1/todo``: an account's to-do list (rules: :mod:`magflow.intake.deadlines`)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import AccountByName, Context, Session
from magflow.common.schemas import UtcDateTime
from magflow.intake import deadlines, todo
from magflow.intake.deadlines import Todo, TodoKind

router = APIRouter(prefix="/api/v1/todo", tags=["to-do"])


class TodoCountOut(BaseModel):
    kind: TodoKind
    label: str
    total: int
    overdue: int


class TodoItemOut(BaseModel):
    kind: TodoKind
    label: str
    order_id: int | None  # MagFlow's id of the order (GET /api/v1/emag/orders/{id})
    emag_order_id: int | None
    return_id: int | None  # eMAG's RMA id, for return_waiting
    due_at: UtcDateTime | None
    overdue: bool
    link: str | None  # the dashboard page to act on it


class TodoListOut(BaseModel):
    account: str
    generated_at: UtcDateTime
    total: int
    overdue: int
    counts: list[TodoCountOut]
    skip: int
    limit: int
    items: list[TodoItemOut]


def item_out(item: Todo, now: datetime) -> TodoItemOut:
    return TodoItemOut(
        kind=item.kind,
        label=item.kind.label,
        order_id=item.order_id,
        emag_order_id=item.emag_order_id,
        return_id=item.return_id,
        due_at=item.due_at,
        overdue=item.overdue(now),
        link=f"/orders/{item.order_id}" if item.order_id is not None else None,
    )


@router.get(
    "",
    response_model=TodoListOut,
    summary="An account's to-do list, due first, with counts per kind",
    description=(
        "Any logged-in user. `counts` cover the whole list; `items` are one page of it "
        f"(`skip + limit` at most {todo.MAX_REACH}).\n\n"
        + inspect.cleandoc((deadlines.__doc__ or "").split("\n", 1)[-1])
    ),
)
async def get_todo(
    ctx: Context,
    session: Session,
    _user: CurrentUser,
    account: AccountByName,
    kind: Annotated[list[TodoKind] | None, Query(description="only these kinds")] = None,
    skip: Annotated[int, Query(ge=0, le=todo.MAX_REACH)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    now = datetime.now(UTC)
    found = await todo.todo_list(
        session, account, now, todo.rules_from(ctx.settings), kinds=kind, skip=skip, limit=limit
    )
    return TodoListOut(
        account=account.name,
        generated_at=now,
        total=found.total,
        overdue=found.overdue,
        counts=[
            TodoCountOut(kind=k, label=k.label, total=c.total, overdue=c.overdue)
            for k, c in found.counts.items()
        ],
        skip=skip,
        limit=limit,
        items=[item_out(item, now) for item in found.items],
    )
