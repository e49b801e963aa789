//! The image assistant's socket in a running image builder (see
//! porthole_agent_api::image_assistant): `image-assistant create-image` inside the builder
//! asks for an image of it here. Served from the builder's readiness until its instance
//! ends.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use porthole_agent_api::image_assistant::{CreateImage, CreateImageAnswer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::state::{now, Server};

/// A request is one short JSON line.
const MAX_REQUEST: u64 = 16 * 1024;

/// Listens on the builder's socket (owned by the instance's uid, 0600) until dropped.
pub(crate) fn listen(
    server: &Arc<Server>,
    builder: &str,
    socket: PathBuf,
    uid: u32,
) -> Result<tokio::task::JoinHandle<()>> {
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    std::os::unix::fs::chown(&socket, Some(uid), Some(uid))?;
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let (server, builder) = (server.clone(), builder.to_owned());
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (server, builder) = (server.clone(), builder.clone());
            tokio::spawn(async move {
                if let Err(err) = answer(&server, &builder, stream).await {
                    tracing::warn!(image_builder = %builder, "image assistant request: {err:#}");
                }
            });
        }
    }))
}

async fn answer(server: &Arc<Server>, builder: &str, stream: UnixStream) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let (answer, effects) = match serde_json::from_str::<CreateImage>(&line) {
        Err(err) => (
            refused(format!("not a create-image request: {err}")),
            vec![],
        ),
        Ok(request) => {
            let mut cp = server.plane.lock().await;
            match cp.create_image_from_builder(
                builder,
                &request.name,
                request.display_name,
                request.description,
                now(),
            ) {
                Ok(image) => (
                    CreateImageAnswer::Accepted {
                        image: image.name.clone(),
                        state: image.state.as_str().to_owned(),
                    },
                    cp.take_effects(),
                ),
                Err(err) => (refused(err.message), cp.take_effects()),
            }
        }
    };
    server.plane.persist().await?;
    let mut reply = serde_json::to_vec(&answer)?;
    reply.push(b'\n');
    // Answered before the builder stops: the stop ends the asking process too.
    write.write_all(&reply).await?;
    write.shutdown().await?;
    server.apply(effects).await;
    if let CreateImageAnswer::Accepted { image, .. } = &answer {
        tracing::info!(image_builder = %builder, %image, "making an image of the builder");
    }
    Ok(())
}

fn refused(message: String) -> CreateImageAnswer {
    CreateImageAnswer::Refused { message }
}
