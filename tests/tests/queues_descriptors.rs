//! What a queue costs in descriptors: two per handle (its ring and its handle channel), and
//! the handle channel takes datagrams from itself only. One test binary of its own, so that no
//! other test opens descriptors meanwhile.

use std::os::fd::RawFd;

use mp::Queue;
use mp_tests::{TIMEOUT, count_open_fds, open_fds};

fn dgram_sockets() -> Vec<RawFd> {
    open_fds()
        .into_iter()
        .filter(|&fd| {
            let mut ty: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: valid out-pointers of the sizes given.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                    (&mut ty as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            r == 0 && ty == libc::SOCK_DGRAM
        })
        .collect()
}

#[test]
fn a_queue_costs_two_descriptors_and_its_channel_refuses_strangers() {
    let before = count_open_fds();
    let socks_before = dgram_sockets();
    let queues: Vec<Queue<u32>> = (0..100).map(|_| Queue::new(0).unwrap()).collect();
    assert_eq!(count_open_fds() - before, 200, "two descriptors per queue");
    let chans: Vec<RawFd> = dgram_sockets()
        .into_iter()
        .filter(|fd| !socks_before.contains(fd))
        .collect();
    assert_eq!(chans.len(), 100);
    for &fd in &chans {
        // SAFETY: sockaddr_un is plain data; getsockname fills it.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: valid out-pointers.
        let r = unsafe {
            libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len)
        };
        assert_eq!(r, 0);
        // A stranger's datagram to the channel's name is refused.
        // SAFETY: a plain socket(2).
        let other =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        assert!(other >= 0);
        let msg = [0xffu8; 8];
        // SAFETY: a live buffer and the address getsockname gave.
        let sent = unsafe {
            libc::sendto(
                other,
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_DONTWAIT,
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        let err = std::io::Error::last_os_error();
        // SAFETY: closing the socket made above.
        unsafe { libc::close(other) };
        assert_eq!(sent, -1, "a stranger could write into a queue's channel");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
    // The channels still carry handles.
    for q in &queues[..3] {
        let (a, b) = mp::Pipe(true).unwrap();
        let hq: Queue<mp::Connection> = Queue::new(0).unwrap();
        hq.put(b).unwrap();
        let b = hq.get_timeout(TIMEOUT).unwrap();
        a.send(&7u32).unwrap();
        assert_eq!(b.recv::<u32>().unwrap(), 7);
        q.put(1).unwrap();
        assert_eq!(q.get_timeout(TIMEOUT).unwrap(), 1);
    }
    drop(queues);
    assert_eq!(count_open_fds(), before, "descriptors leaked");
}
