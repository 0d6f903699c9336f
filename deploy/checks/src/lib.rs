//! Checks of the deployment files under `deploy/`, `nginx/` and `docker-compose.yml` (being moved here; see issue 12).
