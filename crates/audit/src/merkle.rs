//! RFC 6962 hashing: leaf and node hashes, the chain hash that links each entry to the one
//! before, and the [`Frontier`] (the right edge of the tree) from which the root is computed.

use sha2::{Digest, Sha256};

/// RFC 6962 leaf hash.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The chain hash linking an entry to the one before: `SHA-256(previous chain || leaf)`.
pub fn chain_hash(previous: &[u8; 32], leaf: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

/// The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(u32, [u8; 32])>,
}

impl Frontier {
    /// Adds a leaf hash.
    pub fn push(&mut self, leaf: [u8; 32]) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash (SHA-256 of the empty string for an empty tree).
    pub fn root(&self) -> [u8; 32] {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_rfc6962_definition() {
        let leaves: Vec<[u8; 32]> = (0u8..20).map(|i| leaf_hash(&[i])).collect();
        for n in 0..leaves.len() {
            let mut f = Frontier::default();
            for l in &leaves[..n] {
                f.push(*l);
            }
            assert_eq!(f.root(), reference_root(&leaves[..n]), "size {n}");
        }
    }

    #[test]
    fn empty_tree_hash_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(Frontier::default().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
