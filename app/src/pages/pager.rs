//! Keyset paging for console lists: the cursor of the page shown and those before it.

use leptos::prelude::*;

/// Paging state over cursors of type `C` (an id, a sequence number).
#[derive(Clone, Copy)]
pub struct Pager<C: Copy + Send + Sync + 'static> {
    pub cursor: RwSignal<Option<C>>,
    history: RwSignal<Vec<Option<C>>>,
}

impl<C: Copy + Send + Sync + 'static> Pager<C> {
    pub fn new() -> Self {
        Self {
            cursor: RwSignal::new(None),
            history: RwSignal::new(Vec::new()),
        }
    }

    /// Back to the first page (after the filters change).
    pub fn reset(&self) {
        self.history.set(Vec::new());
        self.cursor.set(None);
    }

    fn forward(&self, next: C) {
        let current = self.cursor.get_untracked();
        self.history.update(|h| h.push(current));
        self.cursor.set(Some(next));
    }

    fn back(&self) {
        let mut previous = None;
        self.history.update(|h| previous = h.pop().flatten());
        self.cursor.set(previous);
    }
}

/// Previous / Next buttons; `next` is the cursor the last answer gave, if any.
#[component]
pub fn PagerControls<C: Copy + Send + Sync + 'static>(
    pager: Pager<C>,
    next: Option<C>,
) -> impl IntoView {
    let has_previous = move || !pager.history.get().is_empty();
    view! {
        <div class="pager">
            <button type="button" disabled=move || !has_previous() on:click=move |_| pager.back()>
                "Previous"
            </button>
            <button
                type="button"
                disabled=next.is_none()
                on:click=move |_| {
                    if let Some(next) = next {
                        pager.forward(next);
                    }
                }
            >
                "Next"
            </button>
        </div>
    }
}
