package geo

import (
	"math"
	"testing"
)

func TestDistanceKm(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		want, tolerance        float64
	}{
		{"same point", 31.23, 121.47, 31.23, 121.47, 0, 1e-9},
		{"Shanghai–Beijing", 31.2304, 121.4737, 39.9042, 116.4074, 1067, 5},
		{"Guangzhou–Shenzhen", 23.1291, 113.2644, 22.5431, 114.0579, 104, 3},
		{"antipodes", 0, 0, 0, 180, math.Pi * EarthRadiusKm, 1e-6},
	} {
		if got := DistanceKm(tc.lat1, tc.lng1, tc.lat2, tc.lng2); math.Abs(got-tc.want) > tc.tolerance {
			t.Errorf("%s: %.2f km, want %.0f ± %.0f", tc.name, got, tc.want, tc.tolerance)
		}
	}
}
