// Module Emulators: see README Layout.
