// Module APIClient: see README Layout.
