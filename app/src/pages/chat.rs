//! The end-user chat (issue #5 point 5): a user's conversations with the built-in agent.
//! The agent offers the model exactly the tools this user may call; each call shows as a
//! card (arguments, result, duration), and a call whose tool is destructive or whose rule
//! asks for confirmation waits on the card for the user's Approve or Decline. The answer
//! streams in over the conversation's events (`chat_live`).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::chat_live::{Live, ToolCardView, follow};
use super::tenant_picker::TenantPage;
use super::{ProblemBanner, short_time};
use crate::api::{
    ApiClient, ChatMessage, ConversationInput, ConversationStatus, MAX_MESSAGE_CHARS,
    NewChatMessage, Problem, sendable,
};

#[component]
pub fn ChatPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Chat"
            path="/chat"
            loading="Loading conversations…"
            body=|tenant| view! { <TenantChat tenant/> }
        />
    }
}

#[component]
fn TenantChat(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let query = use_query_map();
    let open = RwSignal::new(
        query.with_untracked(|q| q.get("conversation").and_then(|c| Uuid::parse_str(&c).ok())),
    );
    let reload = RwSignal::new(0u32);
    let conversations = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_conversations(tenant).await })
        }
    });
    // Agent workflows the user may pick to answer in place of the built-in agent; none
    // listed when the user may not read workflows.
    let workflows = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_workflows(tenant).await })
        }
    });
    let agent = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |_: &()| {
        let api = api.clone();
        let input = ConversationInput {
            workflow_id: Uuid::parse_str(&agent.get_untracked()).ok(),
            ..ConversationInput::default()
        };
        sendable(async move { api.create_conversation(tenant, &input).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(conversation)) => {
            problem.set(None);
            open.set(Some(conversation.id));
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        <div class="chat">
            <aside class="chat-list">
                <label>
                    "Answered by"
                    <select aria-label="Answered by" prop:value=move || agent.get() on:change=move |ev| agent.set(event_target_value(&ev))>
                        <option value="">"The built-in agent"</option>
                        <Transition fallback=|| ()>
                            {move || workflows.get().and_then(Result::ok).map(|list| {
                                list.items.into_iter().map(|w| {
                                    let value = w.id.to_string();
                                    view! { <option value=value>{format!("Workflow {}", w.name)}</option> }
                                }).collect_view()
                            })}
                        </Transition>
                    </select>
                </label>
                <button on:click=move |_| { create.dispatch(()); }>"New conversation"</button>
                <ProblemBanner problem/>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || conversations.get().map(|result| match result {
                        Ok(list) if list.items.is_empty() => view! {
                            <p class="empty">"No conversations yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul aria-label="Conversations">
                                {list.items.into_iter().map(|c| {
                                    let id = c.id;
                                    let current = move || open.get() == Some(id);
                                    view! {
                                        <li class:current=current>
                                            <button type="button" class="link" on:click=move |_| open.set(Some(id))>
                                                {c.title.clone()}
                                            </button>
                                            {c.workflow_id.map(|_| view! { <span class="badge">"workflow"</span> })}
                                            <span class="hint">{format!(" {}", short_time(&c.updated_at))}</span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                    })}
                </Transition>
            </aside>
            <section class="chat-main">
                {move || match open.get() {
                    Some(id) => view! { <Conversation tenant id open reload/> }.into_any(),
                    None => view! {
                        <p class="empty">"Start a conversation: the assistant can use the tools you may use, and asks before it changes anything."</p>
                    }.into_any(),
                }}
            </section>
        </div>
    }
}

/// One conversation: its messages, the answer streaming in, and the box to write in.
#[component]
fn Conversation(
    tenant: Uuid,
    id: Uuid,
    open: RwSignal<Option<Uuid>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let live = Live::new();
    follow(tenant, id, live);
    let history = Resource::new(move || live.moved.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.chat_messages(tenant, id).await })
        }
    });
    let problem = RwSignal::new(None::<Problem>);
    // Pages read back from the end ("Show earlier messages"), oldest first; the latest page
    // is read again on every change, these are not.
    let earlier = RwSignal::new(Vec::<ChatMessage>::new());
    let load_earlier = Action::new({
        let api = api.clone();
        move |seq: &i64| {
            let (api, seq) = (api.clone(), *seq);
            sendable(async move { api.chat_messages_before(tenant, id, seq).await })
        }
    });
    Effect::new(move |_| match load_earlier.value().get() {
        Some(Ok(page)) => earlier.update(|shown| {
            let mut all = page.items;
            all.append(shown);
            *shown = all;
        }),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let remove = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.delete_conversation(tenant, id).await })
        }
    });
    let stop = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.stop_chat_turn(tenant, id).await })
        }
    });
    Effect::new(move |_| {
        if let Some(Err(p)) = stop.value().get() {
            problem.set(Some(p));
        }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => {
            open.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        <div class="conversation" data-conversation=id.to_string()>
            <div class="actions">
                <span class="hint" data-testid="chat-status">
                    {move || status_text(live.status.get())}
                </span>
                {move || (live.status.get() == Some(ConversationStatus::Answering)).then(|| view! {
                    <button type="button" on:click=move |_| { stop.dispatch(()); }>"Stop"</button>
                })}
                <button type="button" on:click=move |_| { remove.dispatch(()); }>"Delete"</button>
            </div>
            <ProblemBanner problem/>
            <Transition fallback=|| view! { <p class="loading">"Loading messages…"</p> }>
                {move || history.get().map(|result| match result {
                    Ok(list) if list.items.is_empty() => view! {
                        <p class="empty">"Say what you need."</p>
                    }.into_any(),
                    Ok(list) => {
                        let mut items = earlier.get();
                        items.extend(list.items);
                        let first = items.first().map_or(1, |m| m.seq);
                        view! {
                        {(first > 1).then(|| view! {
                            <button type="button" class="link" on:click=move |_| { load_earlier.dispatch(first); }>
                                "Show earlier messages"
                            </button>
                        })}
                        <ol class="messages" aria-label="Messages">
                            // An assistant message that only asked for tool calls says nothing:
                            // its cards follow it.
                            {items.into_iter().filter(|m| {
                                !(m.role == "assistant" && m.content.trim().is_empty() && m.error.is_none())
                            }).map(|message| view! {
                                <MessageView tenant conversation=id message live problem/>
                            }).collect_view()}
                        </ol>
                        }.into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })}
            </Transition>
            {move || {
                let draft = live.draft.get();
                (!draft.is_empty()).then(|| view! {
                    <p class="message assistant streaming" data-testid="chat-draft">{draft}</p>
                })
            }}
            {move || live.error.get().map(|e| view! { <div class="problem" role="alert">{e}</div> })}
            <Composer tenant conversation=id live reload/>
        </div>
    }
}

fn status_text(status: Option<ConversationStatus>) -> &'static str {
    match status {
        Some(ConversationStatus::Answering) => "The assistant is answering…",
        Some(ConversationStatus::Waiting) => "Waiting for your decision",
        Some(ConversationStatus::Idle) => "Ready",
        None => "",
    }
}

#[component]
fn MessageView(
    tenant: Uuid,
    conversation: Uuid,
    message: ChatMessage,
    live: Live,
    problem: RwSignal<Option<Problem>>,
) -> impl IntoView {
    let role = message.role.clone();
    let body = match (message.card.clone(), message.error.clone()) {
        (Some(card), _) => {
            view! { <ToolCardView tenant conversation message_id=message.id card live problem/> }
                .into_any()
        }
        (None, Some(error)) => view! {
            <p class="problem">{format!("No answer: {error}")}</p>
        }
        .into_any(),
        (None, None) => {
            let asked = message
                .tool
                .clone()
                .map(|t| view! { <span class="hint">{format!("with {t}")}</span> });
            view! { <p class="text">{message.content.clone()}</p>{asked} }.into_any()
        }
    };
    view! {
        <li class=format!("message {role}") data-role=role.clone() data-seq=message.seq>
            {body}
        </li>
    }
}

/// The box to write in, with an optional tool the agent must use first; disabled while
/// the assistant answers or a call waits for a decision.
#[component]
fn Composer(tenant: Uuid, conversation: Uuid, live: Live, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let tools = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_tools(tenant).await })
        }
    });
    let text = RwSignal::new(String::new());
    let tool = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let send = Action::new(move |body: &NewChatMessage| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.send_chat_message(tenant, conversation, &body).await })
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            text.set(String::new());
            tool.set(String::new());
            live.sent();
            // The list shows the conversation's new title (its first message) and order.
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let busy = move || {
        send.pending().get()
            || matches!(live.status.get(), Some(s) if s != ConversationStatus::Idle)
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let tool = tool.get_untracked();
        send.dispatch(NewChatMessage {
            content: text.get_untracked(),
            tool: (!tool.is_empty()).then_some(tool),
        });
    };
    view! {
        <form class="composer" on:submit=submit>
            <textarea
                aria-label="Message"
                rows="3"
                maxlength=MAX_MESSAGE_CHARS.to_string()
                placeholder="Ask the assistant…"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
            <div class="form-row">
                <label>
                    "Use a tool"
                    <select aria-label="Tool" prop:value=move || tool.get() on:change=move |ev| tool.set(event_target_value(&ev))>
                        <option value="">"Let the assistant choose"</option>
                        <Transition fallback=|| ()>
                            {move || tools.get().and_then(Result::ok).map(|list| {
                                list.items.into_iter().map(|t| {
                                    let value = t.name.clone();
                                    view! { <option value=value>{t.name}</option> }
                                }).collect_view()
                            })}
                        </Transition>
                    </select>
                </label>
                <button type="submit" disabled=busy>"Send"</button>
            </div>
            <ProblemBanner problem/>
        </form>
    }
}
