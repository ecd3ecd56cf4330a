"""Submitting a Django admin change form as a browser would: every field with its current value."""

from typing import Any


def _field_values(form: Any, data: dict[str, Any]) -> None:
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif value is None:
            data[key] = ""
        elif isinstance(value, (list, tuple)):
            data[key] = [str(v) for v in value]
        else:
            data[key] = str(value)


def change_form_data(response: Any) -> dict[str, Any]:
    """POST data of the admin change (or add) form rendered in ``response``, unchanged."""
    data: dict[str, Any] = {}
    _field_values(response.context["adminform"].form, data)
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value() or 0)
        for form in formset.forms:
            _field_values(form, data)
    return data
