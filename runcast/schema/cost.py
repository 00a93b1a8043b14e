"""Query cost: a bound on what an operation asks for, checked before it runs.

Every field costs 1 and a field of the `JSON` scalar (`triggerData`, `variables`, `output`,
`config`, `trigger`, …) costs JSON_FIELD_COST, since one such value may hold up to 256 KiB.
A list field costs its size times (1 + the cost of its selection):

- a field with a page-size argument (`limit`, `first`, `last`) sizes the list it returns,
  or the list fields of the object it returns (`executions(limit: 50) { executions {…} }`).
  A literal counts as given, clamped to the field's maximum; an absent argument counts as
  the field's default page; a variable counts as the maximum, because the cost belongs to
  the document (it is computed once, in validation, and cached with it);
- lists the server caps (`tasks`, `notifications`, `nodes`) count at their cap;
- any other list (a workspace's `workflows`, a workflow's `actions`, an execution's
  `steps`) counts as ASSUMED_LIST_SIZE items.

Introspection (`__schema`, `__type`, `__typename`) costs nothing. An operation over the
limit is refused with `VALIDATION_ERROR` before anything is resolved.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from runcast.errors import ValidationError
from runcast.resolvers import history, outputs
from runcast.schema.nodes import MAX_NODES

JSON_FIELD_COST = 100
ASSUMED_LIST_SIZE = 10
PAGE_ARGUMENTS = ("limit", "first", "last")
MAX_INT_LITERAL_LENGTH = len(str(-(2**31)))
# Deeper documents are refused by the depth limit; counting stops here so the walk stays
# shallow whatever reaches it (all rules see a document in the same pass).
MAX_WALK_DEPTH = 64


@dataclass(frozen=True)
class Paging:
    """A paged field's page size when its argument is absent, and its largest page."""

    default: int
    maximum: int


PAGED_FIELDS = {"Query.executions": Paging(history.DEFAULT_LIMIT, history.MAX_LIMIT)}
# A paged field missing from PAGED_FIELDS counts at the listings' largest page.
OTHER_PAGED_FIELD = Paging(history.MAX_LIMIT, history.MAX_LIMIT)
CAPPED_LISTS = {
    "Query.tasks": outputs.LIST_LIMIT,
    "Query.notifications": outputs.LIST_LIMIT,
    "Query.nodes": MAX_NODES,
}


class OperationCost:
    """The cost of the operations of one document, with its fragments counted once each."""

    def __init__(self, context: ValidationContext) -> None:
        self.context = context
        self.fragments: dict[tuple[str, int | None], int] = {}
        self.visiting: set[str] = set()

    def of(self, operation: OperationDefinitionNode) -> int:
        root = self.context.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self.selections(operation.selection_set, root, None, 0)

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        page: int | None,
        depth: int,
    ) -> int:
        """The cost of a selection set on `parent`; `page` sizes the list fields in it."""
        if depth > MAX_WALK_DEPTH:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page, depth)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.context.schema.get_type(condition.name.value) if condition else parent
                if target is not None:
                    total += self.selections(selection.selection_set, target, page, depth + 1)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, page, depth)
        return total

    def spread(self, name: str, page: int | None, depth: int) -> int:
        fragment = self.context.get_fragment(name)
        if fragment is None or name in self.visiting:
            return 0  # an unknown fragment or a cycle: other rules report it
        key = (name, page)
        if key not in self.fragments:
            target = self.context.schema.get_type(fragment.type_condition.name.value)
            self.visiting.add(name)
            cost = (
                0
                if target is None
                else self.selections(fragment.selection_set, target, page, depth + 1)
            )
            self.visiting.discard(name)
            self.fragments[key] = cost
        return self.fragments[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType, page: int | None, depth: int) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0  # introspection, or a field on a union: other rules report the latter
        definition = parent.fields.get(name)
        if definition is None:
            return 0  # an unknown field: other rules report it
        key = f"{parent.name}.{name}"
        own_page = _page_size(key, node, definition.args.keys())
        returns_list = is_list_type(get_nullable_type(definition.type))
        named = get_named_type(definition.type)
        cost = JSON_FIELD_COST if named.name == "JSON" else 1
        if node.selection_set is not None:
            inner_page = None if returns_list else own_page
            cost += self.selections(node.selection_set, named, inner_page, depth + 1)
        if returns_list:
            cost *= own_page or page or CAPPED_LISTS.get(key, ASSUMED_LIST_SIZE)
        return cost


def _page_size(key: str, node: FieldNode, argument_names: Container[str]) -> int | None:
    """The page a paged field asks for (None when the field takes no page size)."""
    if not any(name in argument_names for name in PAGE_ARGUMENTS):
        return None
    paging = PAGED_FIELDS.get(key, OTHER_PAGED_FIELD)
    given = [arg.value for arg in node.arguments or () if arg.name.value in PAGE_ARGUMENTS]
    if not given:
        return paging.default
    value = given[0]
    if isinstance(value, IntValueNode) and len(value.value) <= MAX_INT_LITERAL_LENGTH:
        return min(max(int(value.value), 1), paging.maximum)
    return paging.maximum  # a variable, or a literal too long to be an Int (refused anyway)


def too_costly(cost: int, max_cost: int, node: OperationDefinitionNode) -> GraphQLError:
    message = (
        f"Query cost {cost} exceeds the limit of {max_cost}: ask for fewer rows (a smaller "
        "limit), fewer aliases or fewer JSON fields such as triggerData and variables"
    )
    problem = ValidationError(
        message, [{"reason": "QUERY_TOO_COMPLEX", "cost": cost, "maxCost": max_cost}]
    )
    return GraphQLError(message, node, original_error=problem, extensions=problem.extensions)


@cache
def cost_rule(max_cost: int) -> type[ValidationRule]:
    """The validation rule for one limit. One class per limit, so the validation cache
    (keyed by the rule classes) keeps hitting."""

    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = OperationCost(self.context).of(node)
            if cost > max_cost:
                self.report_error(too_costly(cost, max_cost, node))

    return QueryCostRule
