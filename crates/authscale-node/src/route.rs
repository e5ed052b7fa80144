//! The node's routes, each with its path and the methods it answers, in one
//! place: the dispatcher, the 405 answers and the metrics all read them
//! here, so a new route is one variant plus its path and methods.

/// The routes a request is dispatched and counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Login,
    Me,
    Logout,
    Healthz,
    Readyz,
    Metrics,
    /// Any other path: 404, counted as `other`.
    Other,
}

impl Route {
    /// Every route, in the order of its metric series.
    pub const ALL: [Route; 7] = [
        Route::Login,
        Route::Me,
        Route::Logout,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Other,
    ];

    /// The route a request path asks for.
    pub fn from_path(path: &str) -> Route {
        Route::ALL[..Route::ALL.len() - 1]
            .iter()
            .copied()
            .find(|r| r.path() == path)
            .unwrap_or(Route::Other)
    }

    /// Its path (`other` for the rest, as its metric label).
    pub fn path(self) -> &'static str {
        match self {
            Route::Login => "/login",
            Route::Me => "/api/me",
            Route::Logout => "/logout",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }

    /// The methods it answers: the `Allow` header of a 405.
    pub fn methods(self) -> &'static str {
        match self {
            Route::Login | Route::Logout => "POST",
            Route::Me => "GET",
            Route::Healthz | Route::Readyz | Route::Metrics => "GET, HEAD",
            Route::Other => "",
        }
    }

    /// Every answer on it carries or concerns a credential (`no-store`).
    pub fn holds_credentials(self) -> bool {
        matches!(self, Route::Login | Route::Me | Route::Logout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_leads_back_to_its_route() {
        for route in Route::ALL {
            if route != Route::Other {
                assert_eq!(Route::from_path(route.path()), route);
                assert!(!route.methods().is_empty());
            }
        }
        assert_eq!(Route::from_path("other"), Route::Other);
        assert_eq!(Route::from_path("/api/me/"), Route::Other);
    }
}
