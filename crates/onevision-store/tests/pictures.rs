//! Content-addressed pictures: stored once, shared, thumbnailed, collected when unused.

mod common;

use onevision_store::{NewMessage, PictureInput, StoreError, THUMBNAIL_SIZE};

#[tokio::test]
async fn a_picture_is_stored_once_with_its_metadata_and_a_thumbnail() {
    let (dir, store) = common::fresh_store().await;
    let bytes = common::png(640, 320, 7);
    let file = dir.path().join("figure.png");
    std::fs::write(&file, &bytes).unwrap();

    // Same picture from a file and from memory, twice in one message and again in another.
    let created = store
        .create_conversation(
            "m",
            vec![NewMessage::user("two views")
                .with_picture(PictureInput::File(file.clone()))
                .with_picture(PictureInput::Bytes(bytes.clone()))],
        )
        .await
        .unwrap();
    store
        .append_messages(
            created.conversation,
            vec![NewMessage::user("again").with_picture(PictureInput::Bytes(bytes.clone()))],
        )
        .await
        .unwrap();

    let c = store.get_conversation(created.conversation).await.unwrap();
    assert_eq!(c.messages[0].pictures.len(), 2);
    assert_eq!(c.messages[1].pictures.len(), 1);
    let p = &c.messages[0].pictures[0];
    assert_eq!(c.messages[0].pictures[1], *p);
    assert_eq!(c.messages[1].pictures[0], *p);
    assert_eq!(p.sha256, common::sha256_file(&file));
    assert_eq!((p.width, p.height), (640, 320));
    assert_eq!((p.mime.as_str(), p.ext.as_str()), ("image/png", "png"));
    assert_eq!(p.byte_size, bytes.len() as u64);

    let images = store.images_dir();
    assert_eq!(
        p.path,
        images
            .join(&p.sha256[..2])
            .join(format!("{}.png", p.sha256))
    );
    assert_eq!(std::fs::read(&p.path).unwrap(), bytes);
    let thumb = image::open(&p.thumbnail_path).unwrap();
    assert_eq!(
        (thumb.width(), thumb.height()),
        (THUMBNAIL_SIZE, THUMBNAIL_SIZE / 2)
    );
    // One picture file and one thumbnail, however many uses.
    assert_eq!(common::count_files(images), 2);
}

#[tokio::test]
async fn pictures_are_deleted_when_the_last_message_using_them_goes() {
    let (_dir, store) = common::fresh_store().await;
    let shared = common::png(50, 40, 1);
    let only_a = common::jpeg(300, 200);
    let only_b = common::png(20, 20, 2);

    let a = store
        .create_conversation(
            "m",
            vec![NewMessage::user("a")
                .with_picture(PictureInput::Bytes(shared.clone()))
                .with_picture(PictureInput::Bytes(only_a.clone()))],
        )
        .await
        .unwrap()
        .conversation;
    let b = store
        .create_conversation(
            "m",
            vec![NewMessage::user("b")
                .with_picture(PictureInput::Bytes(shared.clone()))
                .with_picture(PictureInput::Bytes(only_b.clone()))],
        )
        .await
        .unwrap()
        .conversation;
    let pictures_a = store.get_conversation(a).await.unwrap().messages[0]
        .pictures
        .clone();
    let pictures_b = store.get_conversation(b).await.unwrap().messages[0]
        .pictures
        .clone();
    assert_eq!(pictures_a[1].mime, "image/jpeg");
    assert_eq!(common::count_files(store.images_dir()), 6);

    store.delete_conversation(a).await.unwrap();
    // a's own picture is gone; the shared one stays for b.
    assert!(!pictures_a[1].path.exists() && !pictures_a[1].thumbnail_path.exists());
    assert!(pictures_a[0].path.exists() && pictures_a[0].thumbnail_path.exists());
    assert_eq!(common::count_files(store.images_dir()), 4);
    let still = store.get_conversation(b).await.unwrap();
    assert_eq!(still.messages[0].pictures, pictures_b);

    // Truncating b's only message frees the rest.
    store.truncate_conversation(b, 0).await.unwrap();
    assert_eq!(common::count_files(store.images_dir()), 0);
    assert_eq!(store.collect_garbage().await.unwrap(), 0);
}

#[tokio::test]
async fn collect_garbage_removes_unused_rows_and_their_files() {
    let (_dir, store) = common::fresh_store().await;
    let c = store
        .create_conversation(
            "m",
            vec![NewMessage::user("q").with_picture(PictureInput::Bytes(common::png(30, 30, 9)))],
        )
        .await
        .unwrap();
    let picture = store.get_message(c.messages[0]).await.unwrap().pictures[0].clone();

    // Unlink it behind the store's back, as a crash between two steps could leave it.
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(store.db_path()),
    )
    .await
    .unwrap();
    sqlx::query("DELETE FROM message_pictures")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    assert_eq!(store.collect_garbage().await.unwrap(), 1);
    assert!(!picture.path.exists());
    assert!(!picture.thumbnail_path.exists());
}

#[tokio::test]
async fn a_file_that_is_not_a_picture_is_refused_and_nothing_is_written() {
    let (dir, store) = common::fresh_store().await;
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "just text").unwrap();
    let err = store
        .create_conversation(
            "m",
            vec![NewMessage::user("q").with_picture(PictureInput::File(notes.clone()))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidPicture { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");

    let missing = dir.path().join("missing.png");
    let err = store
        .create_conversation(
            "m",
            vec![NewMessage::user("q").with_picture(PictureInput::File(missing))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.png"), "{err}");

    // Neither attempt left a conversation or a file.
    assert!(store.list_conversations(10, 0).await.unwrap().is_empty());
    assert_eq!(common::count_files(store.images_dir()), 0);
}
