"""Strict request-body decoding for every deployable.

Litestar converts bodies with msgspec in lax mode (``strict=False``), which turns ``"qty": "1"`` into ``1``.
An integration API should refuse a wrong JSON type rather than guess, so the service factory installs this DTO
for request bodies: msgspec decodes the raw bytes straight into the handler's declared Struct, strictly, with
unknown fields refused by the models themselves. Responses are encoded as usual (no DTO on the way out).

Text is NFC-normalised at this edge (DESIGN §4): "José" typed on a Mac (NFD) and on a phone (NFC) is one name,
one fingerprint, one ERP customer. A body of plain ASCII (no JSON unicode escapes) is NFC already, so only bodies
with other bytes pay for the walk.

A number with a zero fraction (``1.0``) is an integer in JSON Schema (2020-12 §6.1.1: "integer" is any number
with a zero fractional part), which the OpenAPI documents follow, so an integer field takes it; ``1.5`` stays
refused. Only a body that failed on exactly that pays for a second decode.
"""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.dto import MsgspecDTO
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

T = TypeVar("T", bound=msgspec.Struct)

_decoders: dict[str, msgspec.json.Decoder[Any]] = {}


class StrictBody(MsgspecDTO[T]):
    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        # Document the declared Struct itself (constraints included), not the DTO's transfer model.
        schema: Reference | Schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(
                field_definition.annotation, kwarg_definition=field_definition.kwarg_definition
            )
        )
        return schema

    def decode_bytes(self, value: bytes) -> Any:
        handler = self.asgi_connection.route_handler
        decoder = _decoders.get(handler.handler_id)
        if decoder is None:
            target = handler.parsed_fn_signature.parameters["data"].annotation
            decoder = _decoders[handler.handler_id] = msgspec.json.Decoder(target, strict=True)
        try:
            decoded = _integral(value, decoder)
        except msgspec.ValidationError as exc:
            connection = self.asgi_connection
            method = connection.method if isinstance(connection, Request) else "?"
            raise ValidationException(
                detail=f"Validation failed for {method} {connection.url.path}",
                extra=[{"message": str(exc), "source": "body"}],
            ) from exc
        except msgspec.DecodeError as exc:
            raise ValidationException(detail=f"JSON is malformed: {exc}") from exc
        # Plain ASCII without \u escapes decodes to ASCII text, which is NFC already.
        return decoded if value.isascii() and b"\\u" not in value else nfc(decoded)


def _integral(value: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    """Decode strictly; if that fails only because an integer came as ``n.0``, decode again with such numbers
    read as integers (and the same strictness for everything else)."""
    try:
        return decoder.decode(value)
    except msgspec.ValidationError as exc:
        if "Expected `int`, got `float`" not in str(exc):
            raise
        generic = _integers(msgspec.json.decode(value))
        return msgspec.convert(generic, decoder.type, strict=True)


def _integers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    return value


def nfc(value: Any) -> Any:
    """``value`` with every string in it NFC-normalised (Structs, lists and dicts walked; in place for Structs)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, msgspec.Struct):
        for field in value.__struct_fields__:
            setattr(value, field, nfc(getattr(value, field)))
        return value
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {nfc(k): nfc(v) for k, v in value.items()}
    return value
