# Lists what hvsnap left behind on this host: recovery checkpoints and reference points whose name
# starts with in.tagPrefix (compared as text, never as a pattern).
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$prefix = [string]$in.tagPrefix
$checkpoints = @()
$referencePoints = @()
foreach ($vm in (Get-HvsnapVms)) {
  foreach ($s in (Get-HvsnapSnapshots $vm)) {
    if (([string]$s.ElementName).StartsWith($prefix, [StringComparison]::Ordinal)) {
      $checkpoints += [ordered]@{ VmName = $vm.ElementName; Snapshot = (ConvertTo-HvsnapSnapshot $s) }
    }
  }
  $names = Read-HvsnapNames $vm
  foreach ($rp in (Get-HvsnapReferencePoints $vm)) {
    $n = $names[[string]$rp.InstanceID]
    if ($n -and $n.StartsWith($prefix, [StringComparison]::Ordinal)) { $referencePoints += ConvertTo-HvsnapReferencePoint $rp $names }
  }
}
ConvertTo-HvsnapJson ([ordered]@{ Checkpoints = $checkpoints; ReferencePoints = $referencePoints })
