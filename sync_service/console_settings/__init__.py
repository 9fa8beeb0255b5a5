"""Settings an admin changes in the console, stored in ``console_settings``; each overrides the file or
environment default it stands for until an admin resets it.

Readers ask for the *effective* value here (never read the environment default directly when an override
can exist), so a change in the console reaches the jobs and the web app on their next use, with no restart:

====================  ==========================================  ==========================================
setting               default                                     read by
====================  ==========================================  ==========================================
``cadence``           ``RENEWALS_CADENCE_FILE``                   :func:`cadence`: the planning job,
                                                                  ``renewals plan``
``brands``            ``RENEWALS_BRANDS_FILE``                    :func:`email_actions.mail.brand_settings.
                                                                  brands`: sending, email previews, pages,
                                                                  logos
``api_budget``        ``RENEWALS_API_DAILY_BUDGET``/``_RESERVE``  :func:`api_budget`: pulls, pushes, quote
                                                                  downloads
``bot_rules``         ``RENEWALS_BOT_ADDRESS_RANGES`` + built-ins :func:`bot_rules`: every link hit
                                                                  (``events``)
``salesforce_roles``  none: nobody signs in with Salesforce       :func:`salesforce_roles`: the console's
                                                                  Sign in with Salesforce
====================  ==========================================  ==========================================

The package is split along its seams:

- :mod:`~sync_service.console_settings.store`: the generic override store (the settings' names,
  :class:`SettingProblems`, :func:`stored`, :func:`row`, :func:`store`, :func:`reset`); it knows no value.
- one module per setting held by the domain, with its reader and its ``check_*`` rules:
  :mod:`~sync_service.console_settings.cadence`, :mod:`~sync_service.console_settings.api_budget`,
  :mod:`~sync_service.console_settings.bot_rules` (the classifier they feed is :mod:`sync_service.bot_classifier`),
  :mod:`~sync_service.console_settings.salesforce_roles`;
  they read typed whole numbers alike (:mod:`~sync_service.console_settings.typed_numbers`).
- the brands' reader and rules live in the email library (:mod:`email_actions.mail.brand_settings`), beside the
  brands they check, and store their value through :mod:`~sync_service.console_settings.store`: the domain
  imports nothing from ``email_actions``.

Each ``check_*``/``edit_*`` function turns what an admin typed into the value to store, or raises
:class:`SettingProblems` naming each field that is wrong and why; nothing is stored then. The caller stores
the value (:func:`store`), audits the change and commits, all in one transaction. Each setting's module says
how its value is stored (JSON).

The names below are re-exported so that callers read ``console_settings.api_budget(session, settings)``; each
reader has the name of the submodule that holds it, and the function is what the package's attribute is
(import a submodule's other names with ``from sync_service.console_settings.<module> import ...``).
"""

from __future__ import annotations

from sync_service.console_settings.api_budget import (
    MAX_API_CALLS,
    api_budget,
    check_api_budget,
    check_budget_in_force,
)
from sync_service.console_settings.bot_rules import (
    BURST_LINKS_RANGE,
    BURST_SECONDS_RANGE,
    TOO_SOON_RANGE,
    bot_rules,
    bot_rules_value,
    check_bot_rules,
)
from sync_service.console_settings.cadence import (
    CADENCE_SOURCE,
    StageFields,
    cadence,
    cadence_text,
    check_cadence_text,
    check_stages,
    stage_fields,
)
from sync_service.console_settings.salesforce_roles import (
    RoleRule,
    check_salesforce_roles,
    role_for,
    rules_text,
    rules_value,
    salesforce_roles,
)
from sync_service.console_settings.store import (
    API_BUDGET,
    BOT_RULES,
    BRANDS,
    CADENCE,
    NAMES,
    SALESFORCE_ROLES,
    SettingProblems,
    reset,
    row,
    store,
    stored,
)

__all__ = [
    "API_BUDGET",
    "BOT_RULES",
    "BRANDS",
    "BURST_LINKS_RANGE",
    "BURST_SECONDS_RANGE",
    "CADENCE",
    "CADENCE_SOURCE",
    "MAX_API_CALLS",
    "NAMES",
    "SALESFORCE_ROLES",
    "TOO_SOON_RANGE",
    "RoleRule",
    "SettingProblems",
    "StageFields",
    "api_budget",
    "bot_rules",
    "bot_rules_value",
    "cadence",
    "cadence_text",
    "check_api_budget",
    "check_bot_rules",
    "check_budget_in_force",
    "check_cadence_text",
    "check_salesforce_roles",
    "check_stages",
    "reset",
    "role_for",
    "row",
    "rules_text",
    "rules_value",
    "salesforce_roles",
    "stage_fields",
    "store",
    "stored",
]
