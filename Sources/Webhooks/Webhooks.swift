// Module Webhooks: see README Layout.
