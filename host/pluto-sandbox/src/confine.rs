//! Two checks WASI's own implementation does not make, put in front of it in the linker:
//!
//! - **Hard links.** A regular file with more than one link may be the same inode as a file
//!   outside the granted folder, and path-based confinement (preopens, cap-std) cannot see
//!   that. `open-at` therefore opens the file, asks the opened descriptor for its link count
//!   (fstat: the thing opened, not the path, so nothing can swap it in between) and closes it
//!   again when the count is above 1, unless the policy says `allow_hard_links: true`. A
//!   truncating open is split into an open without truncation, the check, then truncation on
//!   the checked descriptor, so a refused open changes nothing. No folder is walked: the cost
//!   is one fstat per open, whatever the workspace holds.
//! - **Name lookups.** `wasi:sockets/ip-name-lookup` resolves only names that some `allow`
//!   rule for raw sockets names ([`pluto_paf::network::may_resolve`]); any other name is
//!   refused before a query leaves the host, so names cannot carry data out as DNS queries.

use pluto_paf::network::may_resolve;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, DescriptorType, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, ErrorCode as SocketErrorCode, ResolveAddressStream,
};
use wasmtime_wasi::p2::{FsResult, Network};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::host::Host;

/// The versions of the interfaces wasmtime-wasi implements (guests of any 0.2.x match them).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
const NAME_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// The scheme raw socket lookups are checked under (as connects, `net.rs`).
const SOCKET_SCHEME: &str = "tcp";

/// Replaces `open-at` and `resolve-addresses` in `linker` (which already has WASI) with the
/// checked versions.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(FILESYSTEM_TYPES)?.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (dir, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let host = store.data_mut();
                let allow_links = host.allow_hard_links;
                let result = open_at(
                    &mut host.filesystem(),
                    dir,
                    path_flags,
                    path,
                    open_flags,
                    flags,
                    allow_links,
                )
                .await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    linker.instance(NAME_LOOKUP)?.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| {
            let host = store.data_mut();
            if !may_resolve(&host.net.network.allow, SOCKET_SCHEME, &name, None) {
                tracing::info!(%name, "sandboxed name lookup refused: no network.allow rule names it");
                return Ok((Err(SocketErrorCode::AccessDenied),));
            }
            let stream: Result<Resource<ResolveAddressStream>, _> =
                ip_name_lookup::Host::resolve_addresses(&mut host.sockets(), network, name);
            match stream {
                Ok(s) => Ok((Ok(s),)),
                Err(e) => Ok((Err(e.downcast()?),)),
            }
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A trappable filesystem result as the guest sees it: an error code, or a trap.
fn fs_result<T>(result: FsResult<T>) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(e) => Ok(Err(e.downcast()?)),
    }
}

/// Closes a descriptor this module opened and will not hand out.
fn close<V: HostDescriptor>(view: &mut V, fd: Resource<Descriptor>) -> FsResult<()> {
    HostDescriptor::drop(view, fd).map_err(wasmtime_wasi::p2::FsError::trap)
}

/// `open-at`, refusing a regular file with more than one link unless `allow_links`.
async fn open_at<V: HostDescriptor>(
    view: &mut V,
    dir: Resource<Descriptor>,
    path_flags: PathFlags,
    path: String,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
    allow_links: bool,
) -> FsResult<Resource<Descriptor>> {
    if allow_links {
        return view.open_at(dir, path_flags, path, open_flags, flags).await;
    }
    let truncate = open_flags.contains(OpenFlags::TRUNCATE);
    let opened = view
        .open_at(
            dir,
            path_flags,
            path,
            open_flags & !OpenFlags::TRUNCATE,
            flags,
        )
        .await?;
    let stat = match view.stat(Resource::new_borrow(opened.rep())).await {
        Ok(stat) => stat,
        Err(e) => {
            close(view, opened)?;
            return Err(e);
        }
    };
    if stat.type_ == DescriptorType::RegularFile && stat.link_count > 1 {
        close(view, opened)?;
        tracing::info!(
            links = stat.link_count,
            "sandboxed open refused: the file has more than one hard link"
        );
        return Err(ErrorCode::NotPermitted.into());
    }
    if truncate && let Err(e) = view.set_size(Resource::new_borrow(opened.rep()), 0).await {
        close(view, opened)?;
        return Err(e);
    }
    Ok(opened)
}
