package datapath

import "fmt"

// Open returns the data path of the given kind; Auto takes IPVS when the
// kernel has it and nftables otherwise.
func Open(kind string) (DataPath, error) {
	switch kind {
	case IPVS:
		return OpenIPVS()
	case NFTables:
		return OpenNFT()
	case Auto, "":
		if p, err := OpenIPVS(); err == nil {
			return p, nil
		}
		return OpenNFT()
	}
	return nil, fmt.Errorf("unknown data path %q: use auto, nftables or ipvs", kind)
}
