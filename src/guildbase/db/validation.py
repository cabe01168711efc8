"""Validate untrusted input against a schema, raising guildbase's field-named error."""

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from guildbase.errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)


def validate(schema: type[M], data: Mapping[str, Any] | pydantic.BaseModel) -> M:
    """``schema.model_validate(data)``, with errors that name the field and the rule."""
    if isinstance(data, pydantic.BaseModel):
        data = data.model_dump(exclude_unset=True)
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValidationError.from_pydantic(error) from None


def validate_enum(field: str, enum_cls: type[Any], value: Any) -> Any:
    """``enum_cls(value)`` with an error that lists the allowed values."""
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_cls)
        raise ValidationError.single(field, "enum", f"must be one of {allowed}; got {value!r}") from None
