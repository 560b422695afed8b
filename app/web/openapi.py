"""What the OpenAPI document says about our bodies beyond what Litestar writes by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """A struct that refuses unknown fields (`forbid_unknown_fields=True`, every API body) is documented with
    `additionalProperties: false`: Litestar leaves it out, so the document allowed any extra field the API answers
    422 to, and a client generator or a fuzzer (tests/integration/test_api_fuzz.py) took them for valid."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
