"""The API's routes, one module per resource. Each module has one `router`, included in
`create_app` (`bot.api.app`); a route declares what it needs with the typed dependencies of
`bot.api.deps` and raises the errors of `bot.errors`."""
