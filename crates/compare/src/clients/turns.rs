//! Handles on a set of connections, used in turn.

/// Handles on a set of connections, used in turn (round robin), as a gRPC client with the
/// `round_robin` policy does. Each task holds its own `Turns`, so taking a turn touches
/// nothing another task touches.
#[derive(Clone, Debug)]
pub struct Turns<T> {
    handles: Vec<T>,
    next: usize,
}

impl<T: Clone> Turns<T> {
    pub(crate) fn new(handles: Vec<T>, first: usize) -> Self {
        let next = first % handles.len().max(1);
        Self { handles, next }
    }

    /// The same connections, for the task number `task`: its turns start at its own
    /// connection, so that the tasks spread evenly.
    pub(crate) fn for_task(&self, task: usize) -> Self {
        Self::new(self.handles.clone(), task)
    }

    pub(crate) fn next(&mut self) -> &mut T {
        let turn = self.next;
        self.next = (turn + 1) % self.handles.len();
        &mut self.handles[turn]
    }

    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }
}
