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
//! - **Disk quota** (`limits.disk`): the operations that grow the writable folders ask the
//!   call's budget first ([`crate::quota`]).
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
use wasmtime_wasi::p2::{DynOutputStream, FsResult, Network};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::host::Host;
use crate::quota::{DiskBudget, QuotaStream};

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
                let disk = host.disk.clone();
                let result = open_at(
                    &mut host.filesystem(),
                    dir,
                    path_flags,
                    path,
                    open_flags,
                    flags,
                    Rules {
                        allow_links,
                        disk: disk.as_deref(),
                    },
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
    add_quota(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The insufficient-space refusal of an operation the disk quota does not allow.
fn no_space(budget: &DiskBudget) -> wasmtime_wasi::p2::FsError {
    tracing::info!(quota = %budget.describe(), "sandboxed write refused: the disk quota is reached");
    ErrorCode::InsufficientSpace.into()
}

/// Runs `op`, which creates one entry (a folder, a link), if the quota has room for it; the
/// entry is given back when `op` fails. `op` does nothing until it is awaited.
async fn with_entry(
    disk: Option<&DiskBudget>,
    op: impl Future<Output = FsResult<()>>,
) -> FsResult<()> {
    if let Some(budget) = disk
        && !budget.take_file()
    {
        return Err(no_space(budget));
    }
    let done = op.await;
    if let (Err(_), Some(budget)) = (&done, disk) {
        budget.give(0, 1);
    }
    done
}

/// A borrowed handle to `fd`, for a call that must not consume it.
fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

/// The length of the file `fd` is, if it is one.
async fn length<V: HostDescriptor>(view: &mut V, fd: &Resource<Descriptor>) -> FsResult<u64> {
    Ok(view.stat(borrow(fd)).await?.size)
}

/// The quota's checks in front of the operations that grow the folders (see `quota.rs`).
fn add_quota(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.write",
        |mut store, (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let result = async {
                    let mut taken = 0;
                    if let Some(budget) = &disk {
                        let end = offset.saturating_add(buffer.len() as u64);
                        taken = end.saturating_sub(length(&mut view, &fd).await?);
                        if !budget.take_bytes(taken) {
                            return Err(no_space(budget));
                        }
                    }
                    let written = view.write(fd, buffer, offset).await;
                    if let (Err(_), Some(budget)) = (&written, &disk) {
                        budget.give(taken, 0);
                    }
                    written
                }
                .await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-size",
        |mut store, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let result = async {
                    let Some(budget) = &disk else {
                        return view.set_size(fd, size).await;
                    };
                    let before = length(&mut view, &fd).await?;
                    if size > before && !budget.take_bytes(size - before) {
                        return Err(no_space(budget));
                    }
                    let done = view.set_size(fd, size).await;
                    match (&done, size > before) {
                        (Err(_), true) => budget.give(size - before, 0),
                        (Ok(()), false) => budget.give(before - size, 0),
                        _ => {}
                    }
                    done
                }
                .await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.create-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let result = with_entry(disk.as_deref(), view.create_directory_at(fd, path)).await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (fd, target, path): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let result = with_entry(disk.as_deref(), view.symlink_at(fd, target, path)).await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let result = async {
                    let freed = match &disk {
                        Some(_) => view
                            .stat_at(borrow(&fd), PathFlags::empty(), path.clone())
                            .await
                            .map(|s| {
                                if s.type_ == DescriptorType::RegularFile {
                                    s.size
                                } else {
                                    0
                                }
                            })
                            .unwrap_or(0),
                        None => 0,
                    };
                    let done = view.unlink_file_at(fd, path).await;
                    if let (Ok(()), Some(budget)) = (&done, &disk) {
                        budget.give(freed, 1);
                    }
                    done
                }
                .await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let host = store.data_mut();
                let disk = host.disk.clone();
                let mut view = host.filesystem();
                let done = view.remove_directory_at(fd, path).await;
                if let (Ok(()), Some(budget)) = (&done, &disk) {
                    budget.give(0, 1);
                }
                Ok((fs_result(done)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let result = checked_stream(store.data_mut(), fd, Some(offset)).await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            Box::new(async move {
                let result = checked_stream(store.data_mut(), fd, None).await;
                Ok((fs_result(result)?,))
            })
        },
    )?;
    Ok(())
}

/// A write (`Some(offset)`) or append (`None`) stream on `fd`, whose writes ask the disk budget
/// when the policy has a quota.
async fn checked_stream(
    host: &mut Host,
    fd: Resource<Descriptor>,
    offset: Option<u64>,
) -> FsResult<Resource<DynOutputStream>> {
    let disk = host.disk.clone();
    let mut view = host.filesystem();
    let Some(budget) = disk else {
        return match offset {
            Some(offset) => view.write_via_stream(fd, offset),
            None => view.append_via_stream(fd),
        };
    };
    let end = length(&mut view, &fd).await?;
    let stream = match offset {
        Some(offset) => view.write_via_stream(fd, offset)?,
        None => view.append_via_stream(fd)?,
    };
    let inner: DynOutputStream = view.table.delete(stream)?;
    let checked: DynOutputStream = Box::new(QuotaStream {
        inner,
        budget,
        position: offset.unwrap_or(end),
        end,
        append: offset.is_none(),
    });
    Ok(view.table.push(checked)?)
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

/// What an open is checked against.
#[derive(Clone, Copy)]
struct Rules<'a> {
    /// Whether files with several hard links may be opened.
    allow_links: bool,
    /// The call's disk budget, under a quota.
    disk: Option<&'a DiskBudget>,
}

/// `open-at`, refusing a regular file with more than one link unless `allow_links`, and a
/// new file past the disk quota.
async fn open_at<V: HostDescriptor>(
    view: &mut V,
    dir: Resource<Descriptor>,
    path_flags: PathFlags,
    path: String,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
    rules: Rules<'_>,
) -> FsResult<Resource<Descriptor>> {
    let Rules { allow_links, disk } = rules;
    if allow_links && disk.is_none() {
        return view.open_at(dir, path_flags, path, open_flags, flags).await;
    }
    // A new file takes an entry of the quota, before it exists.
    let creating = match disk {
        Some(_) if open_flags.contains(OpenFlags::CREATE) => matches!(
            view.stat_at(borrow(&dir), path_flags, path.clone()).await,
            Err(e) if matches!(e.downcast_ref(), Some(ErrorCode::NoEntry))
        ),
        _ => false,
    };
    if let Some(budget) = disk
        && creating
        && !budget.take_file()
    {
        return Err(no_space(budget));
    }
    let truncate = open_flags.contains(OpenFlags::TRUNCATE);
    let opened = match view
        .open_at(
            dir,
            path_flags,
            path,
            open_flags & !OpenFlags::TRUNCATE,
            flags,
        )
        .await
    {
        Ok(fd) => fd,
        Err(e) => {
            if let Some(budget) = disk.filter(|_| creating) {
                budget.give(0, 1);
            }
            return Err(e);
        }
    };
    let stat = match view.stat(Resource::new_borrow(opened.rep())).await {
        Ok(stat) => stat,
        Err(e) => {
            close(view, opened)?;
            return Err(e);
        }
    };
    if !allow_links && stat.type_ == DescriptorType::RegularFile && stat.link_count > 1 {
        close(view, opened)?;
        tracing::info!(
            links = stat.link_count,
            "sandboxed open refused: the file has more than one hard link"
        );
        return Err(ErrorCode::NotPermitted.into());
    }
    if truncate {
        if let Err(e) = view.set_size(borrow(&opened), 0).await {
            close(view, opened)?;
            return Err(e);
        }
        if let Some(budget) = disk {
            budget.give(stat.size, 0);
        }
    }
    Ok(opened)
}
