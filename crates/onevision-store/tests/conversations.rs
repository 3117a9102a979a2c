//! The history list: creating, listing, renaming, pinning, continuing, truncating, deleting.

mod common;

use onevision_store::{
    ConversationId, MessageStatus, NewMessage, Role, Store, StoreError, TITLE_MAX_CHARS,
};

async fn ask(store: &Store, question: &str) -> ConversationId {
    store
        .create_conversation("r1-onevision-7b", vec![NewMessage::user(question)])
        .await
        .unwrap()
        .conversation
}

#[tokio::test]
async fn a_conversation_is_titled_from_its_first_question() {
    let (_dir, store) = common::fresh_store().await;
    let created = store
        .create_conversation(
            "qwen2.5-vl-7b",
            vec![
                NewMessage::system("You are a careful tutor."),
                NewMessage::user(
                    "\n  In the right triangle ABC shown, angle C is 90 degrees and the hypotenuse is 13; find the area\nmore details",
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created.messages.len(), 2);
    let c = store.get_conversation(created.conversation).await.unwrap();
    assert_eq!(
        c.summary.title,
        "In the right triangle ABC shown, angle C is 90 degrees and…"
    );
    assert!(c.summary.title.chars().count() <= TITLE_MAX_CHARS + 1);
    assert_eq!(c.summary.model_id, "qwen2.5-vl-7b");
    assert_eq!(c.summary.message_count, 2);
    assert!(!c.summary.pinned);
    assert_eq!(c.messages[0].role, Role::System);
    assert_eq!(c.messages[1].role, Role::User);
    assert_eq!(c.messages[1].status, MessageStatus::Complete);
    assert_eq!(
        c.messages.iter().map(|m| m.position).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(c.messages[1].id, created.messages[1]);
}

#[tokio::test]
async fn the_list_puts_pinned_first_then_most_recent() {
    let (_dir, store) = common::fresh_store().await;
    let a = ask(&store, "first").await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let b = ask(&store, "second").await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let c = ask(&store, "third").await;

    let order = |list: Vec<onevision_store::ConversationSummary>| {
        list.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(
        order(store.list_conversations(10, 0).await.unwrap()),
        [c, b, a]
    );

    store.set_pinned(a, true).await.unwrap();
    let list = store.list_conversations(10, 0).await.unwrap();
    assert!(list[0].pinned);
    assert_eq!(order(list), [a, c, b]);

    // Continuing b makes it the most recent unpinned one.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store
        .append_messages(b, vec![NewMessage::user("and then?")])
        .await
        .unwrap();
    assert_eq!(
        order(store.list_conversations(10, 0).await.unwrap()),
        [a, b, c]
    );
    // Paging.
    assert_eq!(order(store.list_conversations(2, 1).await.unwrap()), [b, c]);

    store.set_pinned(a, false).await.unwrap();
    let list = store.list_conversations(10, 0).await.unwrap();
    assert!(list.iter().all(|s| !s.pinned));
    assert_eq!(order(list), [b, c, a]);
}

#[tokio::test]
async fn renaming_keeps_the_users_title() {
    let (_dir, store) = common::fresh_store().await;
    let id = ask(&store, "what is the slope?").await;
    store
        .rename_conversation(id, "  Slopes, homework 3 ")
        .await
        .unwrap();
    assert_eq!(
        store.conversation_summary(id).await.unwrap().title,
        "Slopes, homework 3"
    );
    // Continuing does not overwrite a chosen title.
    store
        .append_messages(id, vec![NewMessage::user("another question")])
        .await
        .unwrap();
    assert_eq!(
        store.conversation_summary(id).await.unwrap().title,
        "Slopes, homework 3"
    );
    store.rename_conversation(id, "   ").await.unwrap();
    assert_eq!(
        store.conversation_summary(id).await.unwrap().title,
        onevision_store::title_from_question("")
    );

    let missing = ConversationId(999);
    assert!(matches!(
        store.rename_conversation(missing, "x").await,
        Err(StoreError::ConversationNotFound(_))
    ));
    assert!(matches!(
        store.set_pinned(missing, true).await,
        Err(StoreError::ConversationNotFound(_))
    ));
    assert!(matches!(
        store.get_conversation(missing).await,
        Err(StoreError::ConversationNotFound(_))
    ));
}

#[tokio::test]
async fn continuing_appends_in_order_and_truncating_rewinds() {
    let (_dir, store) = common::fresh_store().await;
    let id = ask(&store, "q1").await;
    let ids = store
        .append_messages(id, vec![NewMessage::user("q2"), NewMessage::user("q3")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    let c = store.get_conversation(id).await.unwrap();
    assert_eq!(
        c.messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["q1", "q2", "q3"]
    );
    assert_eq!(store.truncate_conversation(id, 1).await.unwrap(), 2);
    let c = store.get_conversation(id).await.unwrap();
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.summary.message_count, 1);
    store
        .append_messages(id, vec![NewMessage::user("q2 again")])
        .await
        .unwrap();
    let c = store.get_conversation(id).await.unwrap();
    assert_eq!(c.messages[1].text, "q2 again");
    assert_eq!(c.messages[1].position, 1);

    assert!(matches!(
        store
            .append_messages(ConversationId(424242), vec![NewMessage::user("x")])
            .await,
        Err(StoreError::ConversationNotFound(_))
    ));
}

#[tokio::test]
async fn deleting_removes_the_conversation_and_its_messages() {
    let (_dir, store) = common::fresh_store().await;
    let keep = ask(&store, "keep me").await;
    let gone = ask(&store, "delete me").await;
    let mut w = store.begin_reply(gone, None).await.unwrap();
    w.push_answer("an answer about ellipses").await.unwrap();
    let reply = w
        .finish(onevision_store::Finish::complete(Default::default()))
        .await
        .unwrap();
    store.delete_conversation(gone).await.unwrap();
    assert!(matches!(
        store.get_conversation(gone).await,
        Err(StoreError::ConversationNotFound(_))
    ));
    assert!(matches!(
        store.get_message(reply.id).await,
        Err(StoreError::MessageNotFound(_))
    ));
    let hits = store
        .search(&onevision_store::SearchQuery::new("ellipses"))
        .await
        .unwrap();
    assert!(hits.is_empty(), "deleted text must leave the search index");
    let list = store.list_conversations(10, 0).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, keep);
    assert!(matches!(
        store.delete_conversation(gone).await,
        Err(StoreError::ConversationNotFound(_))
    ));
}

/// The CLI builds its own runtime around each call: nothing needs a global one.
#[test]
fn works_from_a_runtime_built_by_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::open_in(dir.path()).await.unwrap();
            ask(&store, "from the terminal").await;
            store.close().await;
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let count = runtime.block_on(async {
        let store = Store::open_in(dir.path()).await.unwrap();
        store.list_conversations(10, 0).await.unwrap().len()
    });
    assert_eq!(count, 2);
}
