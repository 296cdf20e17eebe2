"""Developer tooling: the parity runner and the tiny random model folders that tests and
`cosydesk bench` build. Nothing the app, the runner, the server or the engine runs imports it.
"""
