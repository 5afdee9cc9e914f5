//! Merkle trees as RFC 9162 (Certificate Transparency 2.0, section 2.1) defines them: leaf
//! hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || left || right)`, the tree split at
//! the largest power of two below its size; inclusion and consistency proofs, and their
//! verification, as the RFC's algorithms state them. Small enough to write and check here
//! rather than depend on a crate.
//!
//! Two ways to the same hashes: over leaves in memory ([`root`], [`inclusion_proof`],
//! [`consistency_proof`]), and over stored complete subtrees ([`Node`], [`Frontier`],
//! [`inclusion_ranges`], [`consistency_ranges`], [`range_nodes`], [`range_root`]), which a log
//! too large to hold uses: every hash a proof needs is the root of a range of leaves, and every
//! such range is a handful of complete subtrees, so a proof reads O(log n) stored nodes.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// [`split`] for positions in a stored log.
fn split_u64(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH: the root over leaf hashes (the empty tree's root is SHA-256 of nothing).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// `PATH(m, D[n])`: the inclusion proof of leaf `index`, from the leaf up. `None` when `index`
/// is not a leaf.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    path_into(index, leaves, &mut path);
    Some(path)
}

fn path_into(m: usize, leaves: &[Hash], path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_into(m, &leaves[..k], path);
        path.push(root(&leaves[k..]));
    } else {
        path_into(m - k, &leaves[k..], path);
        path.push(root(&leaves[..k]));
    }
}

/// RFC 9162 2.1.3.2: whether `path` proves leaf `leaf` at `index` in the tree of `size`
/// leaves with root `expected_root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    path: &[Hash],
    expected_root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *expected_root
}

/// `PROOF(m, D[n])`: the consistency proof from the tree of the first `m` leaves to the tree of
/// all of them. `None` when `m` exceeds the leaves.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if m > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if m > 0 {
        subproof(m, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// RFC 9162 2.1.4.2: whether `proof` shows that the tree of `first` leaves with root
/// `first_root` is a prefix of the tree of `second` leaves with root `second_root`. Equal
/// sizes need an empty proof and equal roots; the empty tree is a prefix of any tree.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

/// A complete (perfect) subtree of a log: the leaves `index·2^level` to
/// `(index+1)·2^level − 1`. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    pub level: u32,
    pub index: u64,
}

impl Node {
    /// The first leaf it covers.
    fn start(self) -> u64 {
        self.index << self.level
    }
}

/// The complete subtrees that make up the leaves `start..end`, left to right, each as large
/// as it can be. For a range a proof names (a subtree of RFC 9162's split), their sizes are the
/// bits of `end − start`, largest first.
pub fn range_nodes(mut start: u64, end: u64) -> Vec<Node> {
    let mut nodes = Vec::new();
    while start < end {
        let mut level = 0;
        while level < 63
            && start.is_multiple_of(1 << (level + 1))
            && start + (1 << (level + 1)) <= end
        {
            level += 1;
        }
        nodes.push(Node {
            level,
            index: start >> level,
        });
        start += 1 << level;
    }
    nodes
}

/// MTH of the leaves `start..end` from the hashes of its [`range_nodes`], given by `node`
/// (`None` when one is missing): the right fold RFC 9162's split gives.
pub fn range_root(start: u64, end: u64, node: impl Fn(Node) -> Option<Hash>) -> Option<Hash> {
    let nodes = range_nodes(start, end);
    let Some((last, rest)) = nodes.split_last() else {
        return Some(Sha256::digest([]).into());
    };
    let mut hash = node(*last)?;
    for n in rest.iter().rev() {
        hash = node_hash(&node(*n)?, &hash);
    }
    Some(hash)
}

/// The ranges of leaves whose roots are the inclusion proof of leaf `index` in the tree of
/// `size` leaves, from the leaf up (as [`inclusion_proof`] gives them). Empty when `index` is
/// not a leaf.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    fn walk(m: u64, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_u64(n);
        if m < k {
            walk(m, start, start + k, out);
            out.push((start + k, end));
        } else {
            walk(m - k, start + k, end, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if index < size {
        walk(index, 0, size, &mut out);
    }
    out
}

/// The ranges of leaves whose roots are the consistency proof from the tree of `first` leaves
/// to the tree of `second` (as [`consistency_proof`] gives them). Empty when `first` is 0 or
/// not below `second`.
pub fn consistency_ranges(first: u64, second: u64) -> Vec<(u64, u64)> {
    fn walk(m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push((start, end));
            }
            return;
        }
        let k = split_u64(n);
        if m <= k {
            walk(m, start, start + k, complete, out);
            out.push((start + k, end));
        } else {
            walk(m - k, start + k, end, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if first > 0 && first < second {
        walk(first, 0, second, true, &mut out);
    }
    out
}

/// The right edge of a log: the complete subtrees of its leaves so far ([`range_nodes`] of
/// `0..size`), which is all that appending needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(Node, Hash)>,
}

impl Frontier {
    /// The nodes whose hashes [`Frontier::new`] needs for a log of `size` leaves.
    pub fn nodes_of(size: u64) -> Vec<Node> {
        range_nodes(0, size)
    }

    /// The frontier of a log of `size` leaves from the hashes of [`Frontier::nodes_of`]
    /// (`None` when one is missing).
    pub fn new(size: u64, node: impl Fn(Node) -> Option<Hash>) -> Option<Self> {
        let nodes = Self::nodes_of(size)
            .into_iter()
            .map(|n| node(n).map(|hash| (n, hash)))
            .collect::<Option<_>>()?;
        Some(Self { size, nodes })
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the log.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some((_, last)) = nodes.next() else {
            return Sha256::digest([]).into();
        };
        nodes.fold(*last, |right, (_, left)| node_hash(left, &right))
    }

    /// Appends a leaf (its leaf hash): the complete subtrees it completes, itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(Node, Hash)> {
        let mut node = Node {
            level: 0,
            index: self.size,
        };
        let mut hash = leaf;
        let mut completed = vec![(node, hash)];
        while node.index & 1 == 1 {
            let (left, left_hash) = self
                .nodes
                .pop()
                .expect("a right child's left sibling is on the frontier");
            debug_assert_eq!(left.start() + (1 << left.level), node.start());
            hash = node_hash(&left_hash, &hash);
            node = Node {
                level: node.level + 1,
                index: node.index >> 1,
            };
            completed.push((node, hash));
        }
        self.nodes.push((node, hash));
        self.size += 1;
        completed
    }
}

/// Parses 64 hex digits.
pub fn parse_hash(hex: &str) -> Option<Hash> {
    let bytes = parse_hex(hex)?;
    bytes.try_into().ok()
}

/// Parses lowercase or uppercase hex.
pub fn parse_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hex;

    /// The leaves of Certificate Transparency's reference test vectors.
    fn ct_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let leaves = ct_leaves();
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..=n])), *want, "size {}", n + 1);
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_leaf_does() {
        for n in 1..=33 {
            let tree = leaves(n);
            let r = root(&tree);
            for i in 0..n {
                let path = inclusion_proof(i, &tree).unwrap();
                assert!(
                    verify_inclusion(i as u64, n as u64, &tree[i], &path, &r),
                    "{i}/{n}"
                );
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &path, &r));
                if n > 1 {
                    assert!(!verify_inclusion(
                        ((i + 1) % n) as u64,
                        n as u64,
                        &tree[i],
                        &path,
                        &r
                    ));
                }
            }
            assert!(inclusion_proof(n, &tree).is_none());
        }
    }

    /// Every complete subtree of `tree`, as a log stores them.
    fn stored(tree: &[Hash]) -> std::collections::BTreeMap<Node, Hash> {
        let mut frontier = Frontier::new(0, |_| None).unwrap();
        let mut nodes = std::collections::BTreeMap::new();
        for leaf in tree {
            nodes.extend(frontier.push(*leaf));
        }
        nodes
    }

    #[test]
    fn proofs_from_stored_subtrees_are_the_proofs_from_the_leaves() {
        for n in 0..=40usize {
            let tree = leaves(n);
            let nodes = stored(&tree);
            let node = |k: Node| nodes.get(&k).copied();
            let frontier = Frontier::new(n as u64, node).unwrap();
            assert_eq!(frontier.root(), root(&tree), "root of {n}");
            assert_eq!(range_root(0, n as u64, node), Some(root(&tree)));
            let hashes = |ranges: Vec<(u64, u64)>| -> Vec<Hash> {
                ranges
                    .into_iter()
                    .map(|(a, b)| range_root(a, b, node).unwrap())
                    .collect()
            };
            for i in 0..n {
                assert_eq!(
                    hashes(inclusion_ranges(i as u64, n as u64)),
                    inclusion_proof(i, &tree).unwrap(),
                    "inclusion {i}/{n}"
                );
            }
            for m in 0..=n {
                assert_eq!(
                    hashes(consistency_ranges(m as u64, n as u64)),
                    consistency_proof(m, &tree).unwrap(),
                    "consistency {m}/{n}"
                );
                assert_eq!(range_root(0, m as u64, node), Some(root(&tree[..m])));
            }
        }
    }

    #[test]
    fn a_proof_reads_logarithmically_many_stored_nodes() {
        let n = 100_000u64;
        for (m, index) in [(1, 0), (65_537, 65_536), (99_999, 12_345)] {
            let read: std::collections::BTreeSet<Node> = consistency_ranges(m, n)
                .into_iter()
                .chain(inclusion_ranges(index, n))
                .flat_map(|(a, b)| range_nodes(a, b))
                .collect();
            assert!(read.len() <= 4 * 17, "{m}: {} nodes", read.len());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_fork_does_not() {
        for n in 1..=33 {
            let tree = leaves(n);
            let second = root(&tree);
            for m in 0..=n {
                let proof = consistency_proof(m, &tree).unwrap();
                let first = root(&tree[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &first, &second, &proof),
                    "{m}/{n}"
                );
                if m > 0 && m < n {
                    // A forked history: the same size, one leaf changed.
                    let mut forked = tree[..m].to_vec();
                    forked[m - 1] = leaf_hash(b"forked");
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &root(&forked),
                        &second,
                        &proof
                    ));
                }
            }
        }
    }
}
