"""The webhook service (`flows serve`): repositories, triggers, API and UI."""
