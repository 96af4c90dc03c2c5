// Module WorkQueue: see README Layout.
