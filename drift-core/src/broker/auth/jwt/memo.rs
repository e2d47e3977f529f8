//! Each thread's last verified token, in front of the shared cache: a
//! publisher sends the same token request after request, and its
//! connection stays on one thread, so most lookups are one comparison of
//! the token with no lock and no shared cache line (the shared map's lock
//! and one `Arc` for every thread made the two connection threads trade
//! cache lines on every publish). The grant is the thread's own copy.

use std::cell::RefCell;
use std::sync::Arc;

use super::super::Grant;

struct Memo {
    /// The authenticator that verified it (a process may run several).
    owner: u64,
    token: Box<str>,
    grant: Arc<Grant>,
}

thread_local! {
    static LAST: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// The grant `owner` verified `token` to have, if it is this thread's last.
pub(super) fn get(owner: u64, token: &str) -> Option<Arc<Grant>> {
    LAST.with(|last| {
        let last = last.try_borrow().ok()?;
        let memo = last.as_ref()?;
        (memo.owner == owner && &*memo.token == token).then(|| memo.grant.clone())
    })
}

/// Makes `token`, verified by `owner` to have `grant`, this thread's last;
/// answers the thread's copy of the grant.
pub(super) fn put(owner: u64, token: &str, grant: &Arc<Grant>) -> Arc<Grant> {
    let own = Arc::new(Grant::clone(grant));
    LAST.with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(Memo {
                owner,
                token: token.into(),
                grant: own.clone(),
            });
        }
    });
    own
}
