"""The Contact rep page's form, declared once (WTForms): a message, a preferred time and a preferred way, each
optional, with their limits and messages.

The form reads what was posted, says what is wrong beside each field and shows what was typed again; it never
writes anything (the request, its Task and the rep's email are the view's, :mod:`email_actions.web.act.actions`).
The email's pages work without cookies, so their proof is the signed link plus the page's form token (checked by
the view), never Flask-WTF's session-bound CSRF token.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from email_actions.web.posted import strip

# The ways a customer may ask to be contacted: stored by key, shown (and written to the rep's Task) by label.
CHANNELS = {"phone": "Phone", "email": "Email", "video": "Video call"}
MESSAGE_MAX = 2000
PREFERRED_TIME_MAX = 80


class ContactForm(FlaskForm):
    """What the customer asks the rep; every field may be left empty (its ``data`` is then "" or None)."""

    class Meta:
        csrf = False  # the signed link and the page's form token are this form's proof (see the module docstring)

    message = TextAreaField(
        "Your message",
        filters=[strip],
        validators=[Length(max=MESSAGE_MAX, message=f"Please shorten your message to {MESSAGE_MAX} characters.")],
    )
    preferred_time = StringField(
        "When suits you best?",
        filters=[strip],
        validators=[Length(max=PREFERRED_TIME_MAX, message=f"Please shorten this to {PREFERRED_TIME_MAX} characters.")],
    )
    # Not a choice is a message of ours, and no choice at all is fine: hence no WTForms choice check.
    channel = RadioField(
        "How would you like to be contacted?", choices=CHANNELS, validate_choice=False, filters=[strip]
    )

    def validate_channel(self, field: RadioField) -> None:
        if field.data and field.data not in CHANNELS:
            raise ValidationError("Please choose one of the listed ways.")
