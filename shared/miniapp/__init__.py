"""The Telegram Mini App's back end: initData authentication (init_data) and the JSON API (api: the router
and one module per feature, pets_api, diary_api, consult_api, vet_api), served by
functions/miniapp_api.py. The contract with the front end is API.md beside this file."""
